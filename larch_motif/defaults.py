"""The default models: where they are found, what they are named, and their preparation.

A default model of an element and target (``default_model``) is read from the cache folder,
else from the models shipped in the package (``bundled_model_folder``), else trained from the
bundled database with ``training.train`` / ``training.train_cn_mean`` and cached. Its file name
(``default_model_name``) holds ``cache_key`` of everything it is trained from, so a stale file
is never read; the reconstruction models (``reconstruction.default_reconstruction_model``) are
keyed by the same function. Training itself is in ``training``; this module only finds, names,
reports and caches.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from larch_motif.database import open_database
from larch_motif.errors import LarchMotifError
from larch_motif.models import REGRESSION_TARGETS, MotifModel, load_model
from larch_motif.spectra import preprocessing_for
from larch_motif.training import (
    CALIBRATION_PRIOR_WEIGHT,
    DEFAULT_BACKEND,
    DEFAULT_SITE_DOMAIN,
    DERIVED_MOTIFS,
    DERIVED_WEIGHT,
    METALLIC_POOL_ELEMENTS,
    METALLIC_POOL_WEIGHT,
    SHAPE_COMPONENTS,
    SITE_DOMAIN_BY_TARGET,
    Progress,
    augmentation_for,
    derived_content_hash,
    neighbour_elements,
    train,
    train_cn_mean,
)


def package_version() -> str:
    return importlib.metadata.version("larch_motif")


def cache_key(*settings: object) -> str:
    """16 hex digits of SHA-256 over ``settings`` (JSON, sorted keys; callers include
    ``package_version()``): the key in the file name of every cached model."""
    return hashlib.sha256(json.dumps(list(settings), sort_keys=True).encode()).hexdigest()[:16]


def cache_folder() -> Path:
    """Where default models are cached (``LARCH_MOTIF_CACHE`` overrides)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("LARCH_MOTIF_CACHE") or user_cache_dir("larch_motif"))


def bundled_model_folder() -> Path:
    """The default models shipped inside the package (``larch-motif models prepare --bundle``):
    the full-grid models of ``DEFAULT_BACKEND`` for every bundled element, read before any
    training so that a fresh install answers at once."""
    return Path(__file__).parent / "data" / "models"


#: Reports the preparation (training) of a default model: ``reporter(label)`` returns the
#: ``progress(done, total)`` callback of that preparation and is told its end by
#: ``progress(total, total)``. ``None``: a tqdm bar on stderr. Larix sets its status bar here.
_REPORTER: ContextVar[Callable[[str], Progress] | None] = ContextVar("larch_motif_reporter", default=None)


@contextmanager
def reporting_to(reporter: Callable[[str], Progress] | None) -> Iterator[None]:
    """Within the block, a default model being prepared reports to ``reporter`` (see ``_REPORTER``)."""
    token = _REPORTER.set(reporter)
    try:
        yield
    finally:
        _REPORTER.reset(token)


def _tqdm_reporter(label: str) -> Progress:
    """A tqdm bar on stderr over the fits of one model preparation, started now."""
    from tqdm.auto import tqdm

    bar = tqdm(desc=label, unit="fit", leave=False, file=sys.stderr)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    return progress


_FACTS: dict[tuple, object] = {}


def _bundled_facts(element: str, edge: str) -> tuple[str, dict | None]:
    """The bundled database's content hash and calculation settings of an element, read once
    per process while the file is unchanged (a prediction names four models)."""
    from larch_motif.database import database_stamp

    file_stamp = database_stamp()
    stamp: tuple = () if file_stamp is None else (*file_stamp, element, edge)
    if stamp and stamp in _FACTS:
        return _FACTS[stamp]
    with open_database(None) as store:
        if (element, edge) not in store.elements():
            have = ", ".join(f"{e} {k}" for e, k in store.elements())
            raise LarchMotifError(f"no bundled model for {element} {edge} edge (bundled: {have})")
        facts = store.content_hash(element, edge), store.calculation(element, edge)
    if stamp:
        _FACTS[stamp] = facts
    return facts


def _pool_facts(element: str, edge: str) -> dict[str, str]:
    """The content hashes of the elements whose metallic sites ``element``'s detector pools
    (``training.metallic_pool``), read once per process while the database file is unchanged."""
    from larch_motif.database import database_stamp

    if element not in METALLIC_POOL_ELEMENTS:
        return {}
    file_stamp = database_stamp()
    stamp: tuple = () if file_stamp is None else (*file_stamp, element, edge, "pool")
    if stamp and stamp in _FACTS:
        return _FACTS[stamp]
    with open_database(None) as store:
        near = neighbour_elements(element, [el for el, k in store.elements() if k == edge])
        facts = {el: store.content_hash(el, edge) for el in near}
    if stamp:
        _FACTS[stamp] = facts
    return facts


#: How a default model is made, beyond the settings and data its name keys: changed where the
#: training or the cut of the short-scan windows changes, so that no model made the old way
#: (in a user's cache) is read as one made the new way. ``priorN``: the confidence calibration's
#: pseudo-answers (``training.CALIBRATION_PRIOR_WEIGHT``); ``cut-main-edge``: ``spectra.cut_scan``;
#: ``shapeN``: ``training.SHAPE_COMPONENTS`` (LightGBM's); ``extra600``: LightGBM's ``classifier_defaults``;
#: ``weighted``: the final fit weighs pooled and derived rows as the CV folds do.
TRAINING_TAG = (f"cv5-calibrated-prior{CALIBRATION_PRIOR_WEIGHT:g}-tempered-always-cut-main-edge"
                f"-shape{SHAPE_COMPONENTS}-extra600-weighted")


def default_model_name(element: str, target: str, edge: str = "K", backend: str = DEFAULT_BACKEND,
                       grid_max_eV: float | None = None) -> str:
    """The file name of a default model: element, edge, target, window, backend and a key of
    everything it is trained from (the element's database content, the package version, the
    preprocessing, the augmentation, the backend and the site domain), so that a change of any
    of them names another file and the stale one is never read."""
    db_hash, calculation = _bundled_facts(element, edge)
    augmentation = augmentation_for(calculation, target)
    prep = preprocessing_for(element, grid_max_eV, target)
    site_domain = SITE_DOMAIN_BY_TARGET.get(target, DEFAULT_SITE_DOMAIN)
    parts = [db_hash, package_version(), prep.as_dict(), augmentation.as_dict(), backend, site_domain,
             TRAINING_TAG]
    derived_hash = derived_content_hash(element, target, edge)
    if derived_hash:  # the structures derived for its rare motifs (training.derived_pool)
        parts.append({"derived": derived_hash, "weight": DERIVED_WEIGHT, "motifs": DERIVED_MOTIFS[element]})
    if target == "metallic":
        pool = _pool_facts(element, edge)
        if pool:  # the neighbours' metallic sites it learns from (training.metallic_pool)
            parts.append({"pooled_metallic": pool, "weight": METALLIC_POOL_WEIGHT})
    key = cache_key(*parts)
    window = "" if grid_max_eV is None else f"_to{grid_max_eV:g}eV"
    return f"{element}_{edge}_{target}{window}_{backend}_{key}.lmm"


def find_default_model(name: str, folder: str | os.PathLike | None = None) -> Path | None:
    """The default model file ``name`` (``default_model_name``) in ``folder``, the cache or the
    package, in that order; ``None`` where none holds it."""
    places = ([Path(folder)] if folder is not None else []) + [cache_folder(), bundled_model_folder()]
    return next((p / name for p in places if (p / name).is_file()), None)


def default_model(element: str, target: str, edge: str = "K", backend: str = DEFAULT_BACKEND,
                  grid_max_eV: float | None = None, folder: str | os.PathLike | None = None) -> MotifModel:
    """The default model of an element and target on the bundled database.

    ``target``: ``cn``, ``motif``, ``metallic`` or ``cn_mean``. ``grid_max_eV``: the upper end
    of the feature grid (eV above E0) of a short-scan window model (``spectra.SHORT_SCAN_WINDOWS_EV``);
    ``None`` is the element's full grid (``spectra.preprocessing_for``).

    Read from the cache folder, else from the models shipped in the package
    (``bundled_model_folder``), else trained (grouped 5-fold CV for the calibration, then the
    final fit: 5-60 s) with a progress report (``reporting_to``) and cached. ``folder`` writes
    a trained model there instead of the cache (``larch-motif models prepare --bundle``). The
    file name (``default_model_name``) holds a key of what the model is trained from, so a
    changed database or version retrains.
    """
    name = default_model_name(element, target, edge, backend, grid_max_eV)
    out = Path(folder) / name if folder is not None else cache_folder() / name
    found = find_default_model(name, folder)
    if found is not None:
        return load_model(found)
    prep = preprocessing_for(element, grid_max_eV, target)
    site_domain = SITE_DOMAIN_BY_TARGET.get(target, DEFAULT_SITE_DOMAIN)
    window = "" if grid_max_eV is None else f", window to +{grid_max_eV:g} eV"
    reporter = _REPORTER.get() or _tqdm_reporter
    progress = reporter(f"preparing the {element} {edge} {target} model ({backend}{window}; first use)")
    if target in REGRESSION_TARGETS:
        model, _ = train_cn_mean(element, backend, edge=edge, cv=None, out=out, prep=prep, progress=progress)
        return model
    # grouped CV on first use gives the held-out predictions that calibrate the confidence and
    # fit the temperature of the class probabilities
    model, _ = train(element, target, backend, edge=edge, cv=5, out=out, prep=prep, site_domain=site_domain,
                     progress=progress)
    return model


def prepare_default_models(elements: list[str] | None = None, backends: list[str] | None = None,
                           windows: bool = False, edge: str = "K",
                           folder: str | os.PathLike | None = None) -> list[dict]:
    """Train (or find) every default model at once: for each element (default: every bundled
    one) and backend (default: ``DEFAULT_BACKEND``) the CN, motif, site-averaged CN and
    metallic models, and with ``windows`` those of each short-scan window
    (``spectra.SHORT_SCAN_WINDOWS_EV``). ``folder``: where trained models go (default: the
    cache; a model found in the cache is copied there). Returns one row per model: element, target, window (eV or None), backend, path,
    trained (False where it was found) and seconds (0 where it was found)."""
    from larch_motif.spectra import SHORT_SCAN_WINDOWS_EV

    with open_database(None) as store:
        bundled = [el for el, k in store.elements() if k == edge]
    elements = elements or bundled
    rows = []
    for element in elements:
        for backend in backends or [DEFAULT_BACKEND]:
            for window in [None, *(SHORT_SCAN_WINDOWS_EV if windows else ())]:
                for target in ("cn", "motif", "cn_mean", "metallic"):
                    t0 = time.perf_counter()
                    name = default_model_name(element, target, edge, backend, window)
                    trained = find_default_model(name, folder) is None
                    if trained:
                        default_model(element, target, edge, backend, window, folder=folder)
                    path = find_default_model(name, folder)
                    if folder is not None and path.parent != Path(folder):  # trained before, in the cache
                        Path(folder).mkdir(parents=True, exist_ok=True)
                        path = Path(shutil.copy2(path, Path(folder) / name))
                    rows.append({"element": element, "target": target, "window_eV": window,
                                 "backend": backend, "path": str(path), "trained": trained,
                                 "seconds": round(time.perf_counter() - t0, 2) if trained else 0.0})
    return rows
