"""larch_motif: coordination number and motif of the absorber from XANES, for Larch.

The Python API (usable in Larch scripts with ``import larch_motif``):

- ``build_database(element, ...)``: theoretical XANES database with FEFF10 on crystal structures
- ``train(element, target, backend, ...)``: a CN or motif classifier with grouped CV
- ``predict(spectra, model=None, element=None, target='both')``: CN and motif with probabilities
- ``predict_iter(spectra, ..., batch_size=256, errors='raise')``: the same, batch by batch
- ``load_model(path)``, ``open_database(path)``
- ``reconstruct(element, params, series=None)``: XANES (eV from E0, normalized mu) of a structure
  from its parameters, by a tree surrogate of FEFF10, with out-of-range values flagged
- ``fit_structure(spectrum, element, series=None)``: parameters whose reconstruction fits a spectrum
- ``build_parametric(element, motif, n, db)``, ``train_reconstruction(element, series, ...)``,
  ``load_reconstruction_model(path)``

Method: Zhan et al., "Interpretable machine learning based coordination motif identification
scheme from XANES", arXiv 2205.04463.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("larch_motif")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

_API = {
    "build_database": "larch_motif.build",
    "train": "larch_motif.training",
    "predict": "larch_motif.prediction",
    "predict_iter": "larch_motif.prediction",
    "load_model": "larch_motif.models",
    "open_database": "larch_motif.database",
    "Preprocessing": "larch_motif.spectra",
    "CalculationParameters": "larch_motif.calculators",
    "reconstruct": "larch_motif.reconstruction",
    "fit_structure": "larch_motif.reconstruction",
    "train_reconstruction": "larch_motif.reconstruction",
    "load_reconstruction_model": "larch_motif.reconstruction",
    "build_parametric": "larch_motif.parametric",
}

__all__ = [*_API, "__version__"]


def __getattr__(name: str):
    # heavy imports (pymatgen, larch, xgboost) only when the function is used
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'larch_motif' has no attribute {name!r}")
