"""Training data of the reconstruction models (parametric series, the structure database), their
training, the default models (cached with ``defaults.cache_key``) and ``reconstruct``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from larch_motif.errors import LarchMotifError
from larch_motif.labels import cv_group
from larch_motif.reconstruction.model import (
    DATABASE_PARAMETERS,
    DEFAULT_BACKEND,
    DEFAULT_COMPONENTS,
    Parameter,
    ReconstructionModel,
    SpectrumReconstructor,
    load_reconstruction_model,
)
from larch_motif.spectra import Preprocessing, features, theory_group


# -- training data --------------------------------------------------------------------------
@dataclass
class ReconstructionSet:
    """Parameter rows X (n, p), spectra Y (n, n_energies), CV groups and the parameters."""

    X: np.ndarray
    Y: np.ndarray
    groups: np.ndarray
    site_ids: np.ndarray
    parameters: list[Parameter]


def _range(values: np.ndarray) -> tuple[float, float]:
    """Trained range of a parameter, widened to 4 decimals so that every training value is in."""
    return float(np.floor(values.min() * 1e4) / 1e4), float(np.ceil(values.max() * 1e4) / 1e4)


def spectra_matrix(sites: list[dict], prep: Preprocessing) -> np.ndarray:
    """Broadened, Larch-normalized site spectra on ``prep.grid()`` (n, n_energies)."""
    return np.vstack([features(theory_group(s["energy_eV"], s["mu"], prep, s["site_id"]), prep)
                      [: prep.grid().size] for s in sites])


def parametric_set(element: str, series: str | None = None, db: str | os.PathLike | None = None,
                   edge: str = "K", prep: Preprocessing | None = None) -> ReconstructionSet:
    """Training set of a parametric series of ``element`` (``series``: its motif, e.g. ``'O:6'``,
    or its full name; may be left out when the file holds one series)."""
    from larch_motif.parametric import MOTIF_DESIGNS, parametric_series

    prep = prep or Preprocessing()
    rows = parametric_series(db, element, edge)
    names = sorted({r["series"] for r in rows})
    if series is None:
        if len(names) > 1:
            raise LarchMotifError(f"several parametric series of {element}: choose one of "
                                  + ", ".join(n.split()[1] for n in names) + " (or 'database')")
        series = names[0]
    chosen = [n for n in names if n == series or n.split()[1] == series]
    if not chosen:
        raise LarchMotifError(f"no parametric series {series!r} of {element} (available: "
                              + ", ".join(n.split()[1] for n in names) + ", or 'database')")
    rows = [r for r in rows if r["series"] == chosen[0]]
    motif = chosen[0].split()[1]
    specs = MOTIF_DESIGNS[motif]["parameters"]
    X = np.array([[r["parameters"][p.name] for p in specs] for r in rows], float)
    parameters = [Parameter(p.name, p.unit, "continuous", *_range(X[:, j])) for j, p in enumerate(specs)]
    return ReconstructionSet(X, spectra_matrix(rows, prep), np.array([r["design_index"] for r in rows]),
                             np.array([r["site_id"] for r in rows]), parameters)


def database_set(element: str, db: str | os.PathLike | None = None, edge: str = "K",
                 prep: Preprocessing | None = None, min_category_sites: int = 3) -> ReconstructionSet:
    """Training set of database site descriptors (``DATABASE_PARAMETERS``) against site spectra:
    anion-coordinated sites with a bond-valence oxidation state; motifs and ligand sets with
    fewer than ``min_category_sites`` sites are left out. Groups are minerals."""
    from larch_motif.database import open_database
    from larch_motif.training import select_sites

    prep = prep or Preprocessing()
    with open_database(db) as store:
        sites = select_sites(store.site_spectra(element, edge))
    sites = [s for s in sites if s.get("oxidation_state") is not None]
    for name in ("motif", "ligands"):
        counts: dict[str, int] = {}
        for s in sites:
            counts[s[name]] = counts.get(s[name], 0) + 1
        sites = [s for s in sites if counts[s[name]] >= min_category_sites]
    if len(sites) < 10:
        raise LarchMotifError(f"the database holds {len(sites)} usable {element} {edge} sites, too few")
    parameters, columns = [], []
    for name, unit, kind in DATABASE_PARAMETERS:
        if kind == "categorical":
            cats = tuple(sorted({str(s[name]) for s in sites}))
            parameters.append(Parameter(name, unit, kind, categories=cats))
            columns.append([cats.index(str(s[name])) for s in sites])
        else:
            col = [float(s[name]) for s in sites]
            parameters.append(Parameter(name, unit, kind, *_range(np.array(col))))
            columns.append(col)
    groups = np.array([cv_group(s) for s in sites])
    return ReconstructionSet(np.array(columns, float).T, spectra_matrix(sites, prep), groups,
                             np.array([s["site_id"] for s in sites]), parameters)


def train_reconstruction(element: str, series: str | None = None, backend: str = DEFAULT_BACKEND,
                         db: str | os.PathLike | None = None, edge: str = "K",
                         n_components: int | None = DEFAULT_COMPONENTS, backend_params: dict | None = None,
                         prep: Preprocessing | None = None, random_state: int = 0,
                         out: str | os.PathLike | None = None) -> ReconstructionModel:
    """Fit a reconstruction model of ``element`` on a parametric series (``series`` its motif;
    ``db`` default: the bundled parametric file) or, with ``series='database'``, on the
    structure database's site descriptors (``db`` default: the bundled database)."""
    prep = prep or Preprocessing()
    if series == "database":
        ts = database_set(element, db, edge, prep)
        name = "database"
    else:
        ts = parametric_set(element, series, db, edge, prep)
        from larch_motif.parametric import parametric_series

        name = next(r["series"] for r in parametric_series(db, element, edge) if r["site_id"] == ts.site_ids[0])
    rec = SpectrumReconstructor(backend, n_components, backend_params, random_state).fit(ts.X, ts.Y)
    model = ReconstructionModel(rec, element, edge, name, ts.parameters, prep, ts.X,
                                {"n_spectra": int(ts.X.shape[0])})
    if out is not None:
        model.save(out)
    return model


def default_reconstruction_model(element: str, series: str | None = None, edge: str = "K",
                                 backend: str = DEFAULT_BACKEND) -> ReconstructionModel:
    """The default model of an element and series on the bundled data, trained on first use and
    cached (the key holds the data's content hash, the version and the settings)."""
    from larch_motif.database import open_database
    from larch_motif.defaults import cache_folder, cache_key, package_version
    from larch_motif.parametric import parametric_database_path

    if series == "database":
        path = None
    else:
        path = parametric_database_path()
        if not path.is_file():
            raise LarchMotifError("the bundled parametric series are missing from this installation")
    with open_database(path) as store:
        if (element, edge) not in store.elements():
            raise LarchMotifError(f"no bundled reconstruction data for {element} {edge} edge")
        digest = store.content_hash(element, edge)
    if series is None:  # resolve now, so that the cache key names the series
        series = _only_series(element, path, edge)
    key = cache_key(digest, package_version(), Preprocessing().as_dict(), backend, DEFAULT_COMPONENTS, series)
    safe = str(series).replace(":", "").replace(" ", "_")
    cache = cache_folder() / f"reconstruct_{element}_{edge}_{safe}_{backend}_{key}.lmr"
    if not cache.is_file():
        train_reconstruction(element, series, backend, db=path, edge=edge, out=cache)
    return load_reconstruction_model(cache)  # the same object on first and later calls


def _only_series(element: str, db: Path, edge: str) -> str:
    from larch_motif.parametric import parametric_series

    names = sorted({r["series"].split()[1] for r in parametric_series(db, element, edge)})
    if len(names) > 1:
        raise LarchMotifError(f"several parametric series of {element}: choose one of "
                              f"{', '.join(names)} (or 'database')")
    return names[0]


def _resolve(model: str | os.PathLike | ReconstructionModel | None, element: str | None,
             series: str | None, backend: str | None) -> ReconstructionModel:
    if isinstance(model, ReconstructionModel):
        return model
    if model is not None:
        return load_reconstruction_model(model)
    if element is None:
        raise LarchMotifError("give an element (e.g. element='Fe') or a reconstruction model file")
    if not isinstance(element, str):
        raise LarchMotifError(f"element must be a name such as 'Fe', got {type(element).__name__}")
    return default_reconstruction_model(element, series, backend=backend or DEFAULT_BACKEND)


# -- the user-facing functions -------------------------------------------------------------
def reconstruct(element: str | None = None, params: dict[str, object] | None = None, series: str | None = None,
                model: str | os.PathLike | ReconstructionModel | None = None, backend: str | None = None) -> dict:
    """The XANES of a structure from its parameters, by the surrogate of FEFF10.

    element: absorber (uses the bundled data's default model); or ``model``: a model file or
    object. series: motif of a parametric series (``'O:6'``, ``'T:4'``) or ``'database'``.
    params: ``{name: value}``, e.g. ``{'bond_mean_A': 2.05, ...}`` (Angstrom, degree).
    Returns ``energy`` (eV relative to E0 at half the edge step), ``mu`` (normalized),
    ``in_range`` (False when a value lies outside the trained range: computed but flagged),
    ``warnings``, ``series``, ``parameters``.
    """
    m = _resolve(model, element, series, backend)
    return m.reconstruct(params or {})


