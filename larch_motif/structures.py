"""Structure sources and the absorber sites in them.

Every source ends as ``StructureEntry`` objects holding a pymatgen ``Structure`` (or the reason
it could not be parsed): the American Mineralogist Crystal Structure Database shipped inside
larixite, a folder of CIF files, or ``Structure`` objects given from Python.

Partial occupancy policy (documented in the README): every site takes its dominant species
(highest occupancy; ties broken alphabetically), and the number of sites so changed is
recorded. A site whose occupancy, summed with that of its split positions (sites closer than
``SPLIT_POSITION_A``, which no two bonded non-H atoms are), is below ``VACANT_BELOW`` is mostly
vacant and is left out (an interstitial oxygen at 4 % occupancy in a cuprate is not a neighbour
of every Cu). Split positions are merged into one atom at their centroid (a symmetric pair
stays symmetric), with their occupancies summed. An absorber site is kept only when the
absorber is the dominant species; otherwise it is skipped with the reason recorded. Hydrogen
atoms are removed before labelling and calculation (many mineral CIFs have no H positions,
and none bonds to a metal absorber), which is recorded too.

Incomplete CIFs are refused: a CIF whose formula, or whose name where that is itself a formula
(AMCSD names synthetic compounds so: ``'o6 sb2 zn'``), lists an element other than hydrogen
that no atom site holds lacks atoms (AMCSD 17499, ZnSb2O6, lists no O: its Zn would be
labelled tetrahedral among Sb at 2.97 A and computed so). Of the 1,843 AMCSD entries that
builds of the bundled elements read, five are (``benchmarks/incomplete_cifs.py``).
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pymatgen.core import Element, Structure
from pymatgen.io.cif import CifParser
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from larch_motif.errors import LarchMotifError

#: sites closer than this (Angstrom) are split positions of one atom (their occupancies add up,
#: they merge at their centroid): the shortest bond between two non-hydrogen atoms is about 1.1 A
SPLIT_POSITION_A = 1.0
#: a site whose occupancy with that of its split positions is below this is left out
VACANT_BELOW = 0.5

#: elements a CIF may give no site although its formula lists them: hydrogen positions are often
#: not refined (and hydrogen is removed before labelling)
MAY_LACK_SITES = frozenset({"H", "D"})

#: Absorbing elements the project knows edges for (K edges of 3d metals, Ti to Zn).
SUPPORTED_EDGES: dict[str, tuple[str, ...]] = {
    el: ("K",) for el in ("Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn")
}


@dataclass
class StructureEntry:
    """One crystal structure from a source, parsed or with the reason it was not."""

    structure_id: str
    mineral: str
    formula: str
    source: str
    structure: Structure | None = None
    error: str | None = None
    notes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AbsorberSite:
    """A symmetry-unique absorber site of an ordered structure.

    ``site_index`` indexes the ordered structure, ``multiplicity`` counts the equivalent sites in
    the cell, ``occupancy`` is the absorber's occupancy in the original CIF (1.0 when ordered).
    """

    structure_id: str
    site_index: int
    multiplicity: int
    occupancy: float
    wyckoff: str


def check_element_edge(element: str, edge: str) -> None:
    """Raise ``LarchMotifError`` for an element or edge the project cannot calculate."""
    try:
        Element(element)
    except ValueError:
        raise LarchMotifError(f"unknown element {element!r}") from None
    if element not in SUPPORTED_EDGES:
        raise LarchMotifError(
            f"element {element!r} is not supported (supported: {', '.join(SUPPORTED_EDGES)})"
        )
    if edge not in SUPPORTED_EDGES[element]:
        raise LarchMotifError(
            f"edge {edge!r} of {element} is not supported "
            f"(supported: {', '.join(SUPPORTED_EDGES[element])})"
        )


def parse_cif_text(text: str) -> Structure:
    """Parse CIF text into the first structure it holds (primitive cell); raise on failure."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parser = CifParser(io.StringIO(text), occupancy_tolerance=1.1)
        structures = parser.parse_structures(primitive=True)
    if not structures:
        raise ValueError("no structure in CIF")
    return structures[0]


def order_structure(structure: Structure) -> tuple[Structure, dict]:
    """Apply the partial-occupancy policy: dominant species per site, mostly vacant sites left
    out, split positions merged, hydrogen removed.

    Returns the ordered structure (no H) and notes: ``n_disordered_sites``,
    ``n_vacant_sites_removed`` (sites whose occupancy, summed with that of the sites closer than
    ``SPLIT_POSITION_A``, is below ``VACANT_BELOW``), ``n_split_sites_merged`` (split positions
    merged into one atom at their centroid, which keeps the symmetry) and
    ``n_sites_in_cell``. Each site's ``occupancy`` property is its dominant species'
    occupancy, summed over merged split positions.
    """
    species, coords, occupancies, totals = [], [], [], []
    n_disordered = 0
    for site in structure:
        comp = site.species
        items = sorted(
            ((sp.symbol if hasattr(sp, "symbol") else str(sp), amt) for sp, amt in comp.items()),
            key=lambda kv: (-kv[1], kv[0]),
        )
        # merge oxidation-state variants of one element (Fe2+ and Fe3+ on one site)
        merged: dict[str, float] = {}
        for sym, amt in items:
            el = Element(sym).symbol if sym.isalpha() else sym
            merged[el] = merged.get(el, 0.0) + amt
        dominant, occ = max(merged.items(), key=lambda kv: (kv[1], -ord(kv[0][0])))
        if len(merged) > 1 or occ < 0.999:
            n_disordered += 1
        if dominant == "H" or dominant == "D":
            continue
        species.append(dominant)
        coords.append(site.frac_coords)
        occupancies.append(float(occ))
        totals.append(float(sum(merged.values())))
    if not species:
        raise ValueError("no non-hydrogen atoms")
    ordered = Structure(structure.lattice, species, coords, site_properties={"occupancy": occupancies})
    close = ordered.distance_matrix < SPLIT_POSITION_A  # each site with its split positions
    # a site is mostly vacant when its occupancy with that of its split positions is below 0.5
    vacant = (close @ np.array(totals)) < VACANT_BELOW - 1e-6
    if vacant.all():
        raise ValueError("every site is mostly vacant")
    ordered.remove_sites(np.flatnonzero(vacant).tolist())  # symmetry-equivalent sites go together
    # split positions become one atom at their centroid, with the occupancy of its species summed
    # over them (an absorber split over two positions at 0.3 is there at 0.6)
    kept = ~vacant
    symbols = np.array(species)[kept]
    same = close[np.ix_(kept, kept)] & (symbols[:, None] == symbols[None, :])
    summed = np.minimum(1.0, same @ np.array(occupancies)[kept])
    for site, occ in zip(ordered, summed):
        site.properties["occupancy"] = float(occ)
    n_before_merge = len(ordered)
    with warnings.catch_warnings():  # "different site property occupancy ... set to None": below
        warnings.simplefilter("ignore", UserWarning)
        ordered.merge_sites(tol=SPLIT_POSITION_A, mode="delete")
    for site in ordered:  # merged sites whose occupancies differed: pymatgen sets None; full
        if site.properties.get("occupancy") is None:
            site.properties["occupancy"] = 1.0
    notes = {"n_disordered_sites": n_disordered, "n_vacant_sites_removed": int(vacant.sum()),
             "n_split_sites_merged": n_before_merge - len(ordered), "n_sites_in_cell": len(ordered)}
    return ordered, notes


def absorber_sites(
    entry: StructureEntry, element: str, symprec: float = 0.01
) -> tuple[list[AbsorberSite], list[str]]:
    """Symmetry-unique absorber sites of an ordered structure and the reasons for skipped ones."""
    structure = entry.structure
    if structure is None:
        return [], [entry.error or "structure not parsed"]
    try:
        sym = SpacegroupAnalyzer(structure, symprec=symprec).get_symmetrized_structure()
        groups = list(zip(sym.equivalent_indices, sym.wyckoff_symbols))
    except Exception:  # spglib can fail on odd cells; each site then stands alone
        groups = [([i], "?") for i in range(len(structure))]
    sites, skipped = [], []
    for indices, wyckoff in groups:
        first = indices[0]
        if structure[first].specie.symbol != element:
            continue
        occ = float(structure[first].properties.get("occupancy", 1.0))
        if occ < 0.5:
            skipped.append(f"absorber occupancy {occ:.2f} below 0.5 on site {first}")
            continue
        sites.append(AbsorberSite(entry.structure_id, int(first), len(indices), occ, wyckoff))
    if not sites and not skipped:
        skipped.append(f"{element} is not the dominant species on any site (occupancy below 0.5)")
    return sites, skipped


def named_elements(formula: str, name: str = "") -> set[str]:
    """Element symbols of a formula (``'(Mn.96 Ca.04) C O3'``), and of a name that is itself a
    formula (lower-case symbols with counts, ``'o6 sb2 zn'``); a mineral's name adds none."""
    symbols = set(re.findall(r"[A-Z][a-z]?", formula or ""))
    tokens = [re.fullmatch(r"([a-z]{1,2})[\d.]*", t) for t in (name or "").split()]
    if len(tokens) >= 2 and all(m and Element.is_valid_symbol(m.group(1).capitalize()) for m in tokens):
        symbols |= {m.group(1).capitalize() for m in tokens}
    return {s for s in symbols if Element.is_valid_symbol(s)}


def missing_elements(structure: Structure, formula: str, name: str = "") -> list[str]:
    """Elements that ``formula`` or a formula-like ``name`` lists (``named_elements``) and no
    site of ``structure`` holds, hydrogen aside (``MAY_LACK_SITES``), sorted."""
    present = {getattr(el, "symbol", str(el)) for el in structure.composition.elements}
    return sorted(named_elements(formula, name) - present - MAY_LACK_SITES)


def _entry_from_cif_text(structure_id: str, mineral: str, formula: str, source: str, text: str) -> StructureEntry:
    entry = StructureEntry(structure_id, mineral, formula, source)
    try:
        parsed = parse_cif_text(text)
        missing = missing_elements(parsed, formula, mineral)
        if missing:
            entry.error = (f"incomplete CIF: {', '.join(missing)} on no atom site (formula {formula!r}, "
                           f"name {mineral!r})")
            return entry
        entry.structure, entry.notes = order_structure(parsed)
        entry.formula = formula or parsed.composition.reduced_formula
    except Exception as exc:  # pymatgen raises many types on bad CIFs; the reason is recorded
        entry.error = f"CIF parse error: {type(exc).__name__}: {exc}".splitlines()[0][:300]
    return entry


DISTINCT_DENSITY_TOLERANCE = 0.02
"""Relative difference of crystal density above which a further CIF of a mineral with the same
formula counts as a distinct structure (``amcsd_entries``, ``per_mineral`` > 1). Density, not
cell volume: AMCSD gives some structures in another cell setting (hematite 143 and 14076)."""


def _cif_signature(cif: object) -> tuple[str, float]:
    """A CIF's formula without whitespace and its crystal density, g/cm^3 (NaN where unknown)."""
    formula = re.sub(r"\s+", "", str(getattr(cif, "formula", "") or ""))
    try:
        density = float(cif.crystal_density)
    except (AttributeError, TypeError, ValueError):
        density = float("nan")
    return formula, density


def distinct_cifs(cifs: list, per_mineral: int, tolerance: float = DISTINCT_DENSITY_TOLERANCE) -> list:
    """The first ``per_mineral`` of one mineral's CIFs (in the order given) that differ.

    The first CIF is always taken; a later one only where its formula (whitespace aside)
    differs from every taken one's or its density differs by more than ``tolerance`` (relative)
    from that of each taken CIF of the same formula: a solid-solution member, a high-pressure or
    high-temperature refinement. A repeated refinement of the same structure
    adds no new site to learn from, so it is skipped.
    """
    taken: list = []
    signatures: list[tuple[str, float]] = []
    for cif in cifs:
        if len(taken) >= per_mineral:
            break
        formula, density = _cif_signature(cif)
        same = [d for f, d in signatures if f == formula]
        if taken and any(not (abs(density - d) > tolerance * d) for d in same):  # NaN: the same
            continue
        taken.append(cif)
        signatures.append((formula, density))
    return taken


def amcsd_entries(element: str, per_mineral: int = 1, limit: int | None = None) -> Iterator[StructureEntry]:
    """CIFs of the larixite-shipped AMCSD that contain ``element``, ``per_mineral`` per mineral.

    Minerals are taken in alphabetical order and, within a mineral, CIFs by AMCSD id, so that a
    build with ``limit`` is reproducible. With ``per_mineral`` > 1 only CIFs that differ from
    the ones taken are added (``distinct_cifs``: another formula, or a density more than 2% away). Only the database file inside larixite is read. All CIFs of a mineral share its
    cross-validation group (``labels.cv_group``), so a second CIF never leaks across folds.
    """
    from larixite.amcsd import AMCSD

    db = AMCSD(read_only=True)
    cifs = db.find_cifs(contains_elements=[element], max_matches=100000)
    by_mineral: dict[str, list] = {}
    for cif in cifs:
        by_mineral.setdefault(cif.get_mineralname().strip().lower(), []).append(cif)
    count = 0
    for mineral in sorted(by_mineral):
        for cif in distinct_cifs(sorted(by_mineral[mineral], key=lambda c: c.ams_id), per_mineral):
            if limit is not None and count >= limit:
                return
            count += 1
            try:
                text = cif.ciftext
            except Exception as exc:
                yield StructureEntry(f"amcsd:{cif.ams_id}", mineral, "", "amcsd", error=f"CIF text error: {exc}")
                continue
            yield _entry_from_cif_text(f"amcsd:{cif.ams_id}", mineral, str(cif.formula or ""), "amcsd", text)


def cif_folder_entries(folder: str | Path, element: str, limit: int | None = None) -> Iterator[StructureEntry]:
    """CIF files (``*.cif``) of a folder, sorted by name; the mineral name is the file stem."""
    folder = Path(folder)
    if not folder.is_dir():
        raise LarchMotifError(f"CIF folder {str(folder)!r} does not exist or is not a folder")
    files = sorted(folder.glob("*.cif"))
    if not files:
        raise LarchMotifError(f"CIF folder {str(folder)!r} holds no *.cif files")
    for count, path in enumerate(files):
        if limit is not None and count >= limit:
            return
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            yield StructureEntry(f"cif:{path.name}", path.stem, "", str(path), error=f"unreadable: {exc}")
            continue
        entry = _entry_from_cif_text(f"cif:{path.name}", path.stem, "", str(path), text)
        if entry.structure is not None and element not in {s.symbol for s in entry.structure.species}:
            entry.error = f"no {element} in structure"
            entry.structure = None
        yield entry


def pymatgen_entries(structures: Iterable[Structure], names: Iterable[str] | None = None) -> Iterator[StructureEntry]:
    """Wrap pymatgen ``Structure`` objects; the id is a hash of the structure's CIF-like text.
    ``StructureEntry`` objects among them (``substituted``) pass as they are."""
    names = list(names) if names is not None else None
    for k, structure in enumerate(structures):
        if isinstance(structure, StructureEntry):
            yield structure
            continue
        digest = hashlib.sha1(str(structure.as_dict()).encode()).hexdigest()[:12]
        name = names[k] if names is not None else structure.composition.reduced_formula
        entry = StructureEntry(f"pmg:{digest}", name, structure.composition.reduced_formula, "pymatgen")
        try:
            entry.structure, entry.notes = order_structure(structure)
        except Exception as exc:
            entry.error = f"structure error: {type(exc).__name__}: {exc}"
        yield entry


def structure_entries(source: str | Path | Iterable[Structure], element: str, limit: int | None = None, per_mineral: int = 1) -> Iterator[StructureEntry]:
    """Entries from ``source``: ``'amcsd'``, a CIF folder path, or an iterable of Structures
    (or of ``StructureEntry``)."""
    if isinstance(source, str) and source.lower() == "amcsd":
        return amcsd_entries(element, per_mineral=per_mineral, limit=limit)
    if isinstance(source, (str, Path)):
        return cif_folder_entries(source, element, limit=limit)
    entries = pymatgen_entries(source)
    if limit is None:
        return entries
    return (e for k, e in enumerate(entries) if k < limit)


def structure_family(structure: Structure, symprec: float = 0.1) -> str:
    """A structure-type key: space group number and cation:anion ratio, e.g. ``'227:M3X4'``.

    Isostructural compounds of other chemistry share it: magnetite Fe3O4 and chromite FeCr2O4
    (spinels), the garnets, the solid solutions AMCSD lists under their formulas. Anions are
    the elements of ``labels.ANION_LIGANDS``, every other element counts as a cation. Used to
    group cross-validation folds by structure type, stricter than by mineral name. The space
    group is pymatgen's ``SpacegroupAnalyzer`` at ``symprec`` (Angstrom), ``'?'`` where it fails.
    """
    from math import gcd

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from larch_motif.labels import ANION_LIGANDS

    try:
        number = str(SpacegroupAnalyzer(structure, symprec=symprec).get_space_group_number())
    except Exception:  # spglib fails on a few distorted cells; the ratio still groups them
        number = "?"
    counts = structure.composition.element_composition
    anions = round(sum(n for el, n in counts.items() if el.symbol in ANION_LIGANDS))
    cations = round(counts.num_atoms) - anions
    common = gcd(cations, anions) or 1
    return f"{number}:M{cations // common}X{anions // common}"


def cluster_around(structure: Structure, site_index: int, radius_A: float) -> tuple[list[str], np.ndarray]:
    """Atoms within ``radius_A`` (Angstrom) of a site: element symbols and coordinates relative
    to the absorber (Angstrom), absorber first, then by distance."""
    center = structure[site_index]
    neighbors = structure.get_sites_in_sphere(center.coords, radius_A, include_index=True)
    neighbors.sort(key=lambda n: (round(n.nn_distance, 4), n.specie.symbol))
    symbols, coords = [center.specie.symbol], [np.zeros(3)]
    for n in neighbors:
        if n.nn_distance < 1e-3:
            continue
        symbols.append(n.specie.symbol)
        coords.append(n.coords - center.coords)
    return symbols, np.array(coords)


def amcsd_entry(ams_id: int) -> StructureEntry:
    """One CIF of the larixite-shipped AMCSD by its id, ordered as ``amcsd_entries`` orders it."""
    from larixite.amcsd import AMCSD

    cif = AMCSD(read_only=True).get_cif(int(ams_id))
    if cif is None:
        return StructureEntry(f"amcsd:{ams_id}", "", "", "amcsd", error=f"no AMCSD entry {ams_id}")
    mineral = cif.get_mineralname().strip().lower()
    return _entry_from_cif_text(f"amcsd:{ams_id}", mineral, str(cif.formula or ""), "amcsd", cif.ciftext)


def ionic_radius_A(element: str, oxidation_state: int, cn: int, square_planar: bool = False) -> float:
    """Shannon's (1976) effective ionic radius (Angstrom) of ``element`` at ``oxidation_state``
    and coordination number ``cn`` (``IVSQ`` for a square plane where Shannon gives one), as
    pymatgen ships the table; high spin where Shannon gives both. Raises ``LarchMotifError`` where
    the table has no such entry."""
    from pymatgen.core import Species

    roman = {2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI", 7: "VII", 8: "VIII"}.get(int(cn))
    keys = ([f"{roman}SQ"] if square_planar else []) + [roman]
    species = Species(element, int(oxidation_state))
    for key in keys:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for spin in ("High Spin", ""):
                try:
                    return float(species.get_shannon_radius(key, spin=spin))
                except (KeyError, ValueError, TypeError):
                    continue
    raise LarchMotifError(f"no Shannon radius of {element}{int(oxidation_state)}+ at CN {cn}")


def substituted(parent: StructureEntry, donor: str, element: str, oxidation_state: int, cn: int,
                bond_mean_A: float, square_planar: bool = False,
                element_oxidation_state: int | None = None) -> StructureEntry:
    """A structure derived from ``parent`` with ``element`` on every ``donor`` site.

    The donor's sites (oxidation state ``oxidation_state``, coordination ``cn``, mean bond
    length ``bond_mean_A`` in Angstrom, as labelled in its own database) keep their ligands;
    the lattice is scaled isotropically so that that mean bond changes by the difference of
    the two cations' ionic radii at that state and CN (``ionic_radius_A``): the bond length the
    same bond valence gives. ``element_oxidation_state`` puts the element at another state
    (Ti4+ on the tetrahedra of V5+, as no Ti5+ exists); the radius difference is then taken
    between the two states. Ionic radii, not pymatgen's element-only bond-valence parameters,
    which put Cu-O 0.2 Angstrom short. The derived entry keeps the parent's mineral, so it is
    held out with its parent in grouped CV; its id, source and notes say what it is derived
    from. A parent that holds ``element`` already, or has no ``donor``, gives an entry with
    the reason in ``error``.
    """
    structure_id = f"derived:{donor}>{element}:{parent.structure_id}"
    source = f"derived from {parent.structure_id} ({donor} -> {element})"
    entry = StructureEntry(structure_id, parent.mineral, "", source,
                           notes={**parent.notes, "derived_from": parent.structure_id,
                                  "substitution": f"{donor}->{element}"})
    if parent.structure is None:
        entry.error = parent.error or "parent structure not parsed"
        return entry
    present = {s.symbol for s in parent.structure.species}
    if donor not in present:
        entry.error = f"no {donor} in {parent.structure_id}"
        return entry
    if element in present:  # its own sites are in the database already
        entry.error = f"{parent.structure_id} holds {element} already"
        return entry
    try:
        state = oxidation_state if element_oxidation_state is None else element_oxidation_state
        shift = (ionic_radius_A(element, state, cn, square_planar)
                 - ionic_radius_A(donor, oxidation_state, cn, square_planar))
    except LarchMotifError as exc:
        entry.error = str(exc)
        return entry
    scale = (bond_mean_A + shift) / bond_mean_A
    structure = parent.structure.copy()
    structure.replace_species({Element(donor): Element(element)})
    structure.scale_lattice(structure.volume * scale ** 3)
    entry.structure = structure
    entry.formula = structure.composition.reduced_formula
    entry.notes.update(oxidation_state=int(state), lattice_scale=round(scale, 4),
                       bond_shift_A=round(shift, 4))
    return entry
