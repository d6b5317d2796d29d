"""Parametric series: a reference absorber site with its structure varied on a design, each
variant computed with FEFF10 into the crash-safe store.

A series starts from a real site of a crystal structure (by default the octahedral Fe of
hematite for ``O:6`` and the tetrahedral Fe of chromite for ``T:4``, both from the AMCSD copy
in larixite) and varies four structural parameters (``PARAMETERS``):

- ``bond_mean_A``: mean absorber-ligand distance of the first shell (Angstrom); every first-shell
  bond moves by the same amount, so the reference's own bond spread is kept;
- ``axial_elongation_A``: the two axial bonds lengthen and the others shorten so that the mean
  stays, their difference growing by this amount (Angstrom; tetragonal / Jahn-Teller-like);
- ``angle_bending_deg``: the angle between the two axial ligands closes by this many degrees,
  each turning by half of it towards the other in the plane of the two (towards the first
  equatorial ligand where they are exactly trans, as in an ideal octahedron);
- ``second_shell_shift_A``: every atom beyond the first shell moves radially by this amount
  (Angstrom): the second-shell (metal-metal) distances.

Design points come from a scrambled Halton sequence over the ranges, so a larger ``n`` with the
same seed extends a series instead of replacing it. Each point is written to the store as a
structure (``source='parametric'``, its parameters in ``notes``) with one pending site holding
the distorted cluster and its first-shell descriptors; ``build.build_database`` then computes the
pending sites: the same process pool, progress line, per-row commits, resume and failure records
as the structure database.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from larch_motif.calculators import CalculationParameters, Cluster
from larch_motif.errors import LarchMotifError


@dataclass(frozen=True)
class StructuralParameter:
    """A structural parameter of a parametric series: name, unit, design range (low, high)."""

    name: str
    unit: str
    low: float
    high: float
    description: str


def _parameters(bond: tuple[float, float]) -> tuple[StructuralParameter, ...]:
    return (
        StructuralParameter("bond_mean_A", "Angstrom", *bond, "mean first-shell bond length"),
        StructuralParameter("axial_elongation_A", "Angstrom", -0.15, 0.25,
                            "axial minus equatorial bond length, added to the reference's"),
        StructuralParameter("angle_bending_deg", "degree", 0.0, 15.0,
                            "closing of the angle between the two axial ligands"),
        StructuralParameter("second_shell_shift_A", "Angstrom", -0.15, 0.25,
                            "radial shift of every atom beyond the first shell"),
    )


#: Distortion designs by motif: the default reference mineral and the parameter ranges.
MOTIF_DESIGNS: dict[str, dict] = {
    "O:6": {"reference": "hematite", "parameters": _parameters((1.90, 2.20))},
    "T:4": {"reference": "chromite", "parameters": _parameters((1.80, 2.10))},
}

#: FEFF10 settings of parametric series: small clusters, FMS over the first two shells, no SCF
#: (a few seconds per calculation; see the README).
PARAMETRIC_CALCULATION = CalculationParameters(cluster_radius_A=5.0, fms_radius_A=4.0,
                                               xanes_kmax_invA=5.0, timeout_s=300.0)


def parametric_database_path() -> Path:
    """The parametric series bundled with the package."""
    return Path(__file__).resolve().parent / "data" / "parametric_fe.sqlite"


def design_parameters(motif: str) -> tuple[StructuralParameter, ...]:
    """The parameters (with design ranges) of a motif's series; a clear error for others."""
    if motif not in MOTIF_DESIGNS:
        raise LarchMotifError(f"no parametric design for motif {motif!r} (available: {', '.join(MOTIF_DESIGNS)})")
    return MOTIF_DESIGNS[motif]["parameters"]


@dataclass(frozen=True)
class ReferenceSite:
    """An absorber site to distort: its cluster (Angstrom, absorber at the origin), the indices
    of the first shell and of the two axial ligands, and its ChemEnv labels."""

    element: str
    motif: str
    name: str
    structure_id: str
    symbols: tuple[str, ...]
    coords_A: np.ndarray
    first_shell: tuple[int, ...]
    axial: tuple[int, int]
    labels: dict


def reference_site(element: str, motif: str, reference: str | os.PathLike | None = None,
                   radius_A: float = PARAMETRIC_CALCULATION.cluster_radius_A) -> ReferenceSite:
    """The first ``element`` site of motif ``motif`` in ``reference`` (an AMCSD mineral name or a
    CIF file; default ``MOTIF_DESIGNS[motif]['reference']``), with its cluster of ``radius_A``."""
    from larch_motif.labels import site_labels
    from larch_motif.structures import (
        StructureEntry,
        absorber_sites,
        cluster_around,
        order_structure,
        parse_cif_text,
    )

    design_parameters(motif)
    reference = reference or MOTIF_DESIGNS[motif]["reference"]
    path = Path(reference)
    if path.suffix.lower() == ".cif":
        if not path.is_file():
            raise LarchMotifError(f"reference CIF {str(path)!r} does not exist")
        text, name, structure_id = path.read_text(errors="replace"), path.stem, f"cif:{path.name}"
    else:
        from larixite.amcsd import AMCSD

        cifs = AMCSD(read_only=True).find_cifs(mineral_name=str(reference))
        if not cifs:
            raise LarchMotifError(f"no mineral {str(reference)!r} in the AMCSD shipped with larixite")
        cif = sorted(cifs, key=lambda c: c.ams_id)[0]
        text, name, structure_id = cif.ciftext, str(reference).lower(), f"amcsd:{cif.ams_id}"
    structure, _ = order_structure(parse_cif_text(text))
    sites, _ = absorber_sites(StructureEntry(structure_id, name, "", "reference", structure), element)
    labels = site_labels(structure, [s.site_index for s in sites]) if sites else {}
    found = [s for s in sites if labels.get(s.site_index, {}).get("motif") == motif]
    if not found:
        have = sorted({lab["motif"] for lab in labels.values()}) or ["none"]
        raise LarchMotifError(f"{name} has no {element} site of motif {motif} ({element} motifs: {', '.join(have)})")
    site = found[0]
    symbols, coords = cluster_around(structure, site.site_index, radius_A)
    cn = labels[site.site_index]["cn"]
    first = tuple(range(1, cn + 1))  # cluster_around sorts by distance: the CN nearest atoms
    ligands = {s.strip() for s in labels[site.site_index]["ligands"].split(",")}
    if {symbols[i] for i in first} != ligands:
        raise LarchMotifError(f"{name}: the {cn} nearest atoms are not the ChemEnv ligands ({', '.join(sorted(ligands))})")
    unit = coords[list(first)] / np.linalg.norm(coords[list(first)], axis=1)[:, None]
    if cn == 6:  # the ligand trans to the nearest one
        partner = int(np.argmin(unit[1:] @ unit[0])) + 1
    else:  # the pair of the smallest angle
        cos = unit @ unit.T
        np.fill_diagonal(cos, -2)
        partner = int(np.argmax(cos[0]))
    return ReferenceSite(element, motif, name, structure_id, tuple(symbols), coords, first,
                         (first[0], first[partner]), labels[site.site_index])


def _rotate_towards(vector: np.ndarray, target: np.ndarray, angle_rad: float) -> np.ndarray:
    """Turn ``vector`` by ``angle_rad`` in the plane it spans with ``target``, towards it."""
    r = np.linalg.norm(vector)
    u = vector / r
    w = target - np.dot(target, u) * u
    if np.linalg.norm(w) < 1e-9:
        return vector.copy()
    w /= np.linalg.norm(w)
    return r * (np.cos(angle_rad) * u + np.sin(angle_rad) * w)


def distorted_cluster(ref: ReferenceSite, parameters: dict[str, float], title: str = "") -> Cluster:
    """The reference cluster with the structural ``parameters`` applied (see the module text)."""
    coords = np.array(ref.coords_A, float)
    first = list(ref.first_shell)
    a, b = ref.axial
    equatorial = [i for i in first if i not in (a, b)]
    lengths = np.linalg.norm(coords[first], axis=1)
    unit = coords[first] / lengths[:, None]
    new_len = lengths - lengths.mean() + parameters["bond_mean_A"]
    n, n_ax = len(first), 2
    elong = parameters["axial_elongation_A"]
    for k, i in enumerate(first):
        new_len[k] += elong * (n - n_ax) / n if i in (a, b) else -elong * n_ax / n
    shell = {i: unit[k] * new_len[k] for k, i in enumerate(first)}
    half = np.radians(parameters["angle_bending_deg"]) / 2
    va, vb = shell[a].copy(), shell[b].copy()
    if np.dot(va, vb) / np.linalg.norm(va) / np.linalg.norm(vb) < -0.9998:  # exactly trans: no plane
        target = shell[equatorial[0]]
        shell[a], shell[b] = _rotate_towards(va, target, half), _rotate_towards(vb, target, half)
    else:
        shell[a], shell[b] = _rotate_towards(va, vb, half), _rotate_towards(vb, va, half)
    for i, v in shell.items():
        coords[i] = v
    outer = [i for i in range(1, len(coords)) if i not in shell]
    r_outer = np.linalg.norm(coords[outer], axis=1)
    coords[outer] *= ((r_outer + parameters["second_shell_shift_A"]) / r_outer)[:, None]
    return Cluster(ref.symbols, coords, title=title)


def first_shell_labels(ref: ReferenceSite, cluster: Cluster) -> dict:
    """Site labels of a distorted cluster: the reference's CN, motif, ligands and oxidation
    state, with bond lengths and angle spread measured on the cluster (``labels`` formulas)."""
    from larch_motif.labels import first_shell_descriptors

    vectors = cluster.coords_A[list(ref.first_shell)]
    return {"cn": ref.labels["cn"], "motif": ref.motif, "csm": None, "ligands": ref.labels["ligands"],
            "oxidation_state": ref.labels.get("oxidation_state"), **first_shell_descriptors(vectors)}


def design_points(motif: str, n: int, seed: int = 0) -> list[dict[str, float]]:
    """The first ``n`` points of the motif's design (scrambled Halton, reproducible by ``seed``)."""
    from scipy.stats import qmc

    params = design_parameters(motif)
    if n < 1:
        raise LarchMotifError(f"--n {n}: a design needs at least 1 point")
    unit = qmc.Halton(d=len(params), scramble=True, seed=seed).random(n)
    return [{p.name: round(float(p.low + u[j] * (p.high - p.low)), 5) for j, p in enumerate(params)}
            for u in unit]


def series_name(element: str, motif: str, reference: str) -> str:
    return f"{element} {motif} {reference}"


def build_parametric(element: str, motif: str, n: int, db: str | os.PathLike, edge: str = "K",
                     reference: str | os.PathLike | None = None, seed: int = 0,
                     params: CalculationParameters = PARAMETRIC_CALCULATION,
                     workers: int | None = 1, calculator: str = "feff10", retry_failed: bool = False,
                     progress: bool = True):
    """Write the first ``n`` design points of a motif's series into ``db`` and compute them.

    Already computed points are kept (the command resumes, and a larger ``n`` extends the
    series); a series with other ranges, seed or reference under the same name is refused, as
    is a file that holds a structure database. Returns the ``build.BuildReport``.
    """
    from larch_motif.build import build_database
    from larch_motif.database import SpectralDatabase
    from larch_motif.errors import DatabaseError
    from larch_motif.structures import check_element_edge

    check_element_edge(element, edge)
    ref = reference_site(element, motif, reference, params.cluster_radius_A)
    name = series_name(element, motif, ref.name)
    definition = {"reference": ref.structure_id, "seed": seed,
                  "parameters": [asdict(p) for p in design_parameters(motif)]}
    points = design_points(motif, n, seed)
    if Path(db).is_file():  # read-only first: a refused file is left exactly as it was
        with SpectralDatabase(db) as probe:
            other = probe.conn.execute(
                "SELECT COUNT(*) FROM structures WHERE element=? AND edge=? AND source!='parametric'",
                (element, edge)).fetchone()[0]
        if other:
            raise DatabaseError(f"{db} holds a structure database of {element} {edge}; "
                                "write parametric series to their own --db")
    store = SpectralDatabase(db, writable=True)
    try:
        with store.build_lock():
            key = f"parametric:{name}"
            stored = store.get_meta(key)
            if stored is None:
                store.set_meta(key, definition)
            elif stored != json.loads(json.dumps(definition)):
                raise DatabaseError(f"{store.path} holds the series {name!r} with another design "
                                    f"({stored}); use another --db")
            for k, point in enumerate(points):
                structure_id = f"parametric:{element}:{motif}:{ref.name}:{k:05d}"
                cluster = distorted_cluster(ref, point, title=f"{name} #{k}")
                store.write_structure({
                    "structure_id": structure_id, "element": element, "edge": edge, "mineral": name,
                    "formula": None, "source": "parametric", "status": "done",
                    "notes": {"series": name, "design_index": k, "parameters": point,
                              "reference": ref.structure_id}})
                store.write_pending_site({
                    "site_id": f"{structure_id}#0", "structure_id": structure_id, "element": element,
                    "edge": edge, "site_index": 0, "multiplicity": 1, "occupancy": 1.0, "wyckoff": None,
                    **first_shell_labels(ref, cluster), "status": "pending",
                    "cluster": json.dumps({"symbols": list(cluster.symbols),
                                           "coords_A": np.round(cluster.coords_A, 5).tolist()})})
            store.commit()
    finally:
        store.close()
    return build_database(element, edge=edge, db=db, source=[], workers=workers, params=params,
                          calculator=calculator, retry_failed=retry_failed, progress=progress)


def parametric_series(db: str | os.PathLike | None = None, element: str = "Fe", edge: str = "K") -> list[dict]:
    """Computed design points of every series of ``element`` in ``db`` (default: the bundled
    file): the site rows of ``SpectralDatabase.site_spectra`` with ``series`` and ``parameters``."""
    from larch_motif.database import SpectralDatabase

    path = Path(db) if db is not None else parametric_database_path()
    with SpectralDatabase(path) as store:
        notes = {r[0]: json.loads(r[1]) for r in store.conn.execute(
            "SELECT structure_id, notes FROM structures WHERE element=? AND edge=? AND source='parametric'",
            (element, edge))}
        sites = store.site_spectra(element, edge)
    out = []
    for site in sites:
        note = notes.get(site["structure_id"])
        if note and "parameters" in note:
            out.append({**site, "series": note["series"], "parameters": note["parameters"],
                        "design_index": note["design_index"]})
    if not out:
        raise LarchMotifError(f"{path} holds no computed {element} {edge} parametric series")
    return out
