"""The reconstruction estimator (structural parameters -> spectrum), the fitted model with its
parameters and grid, and its model file (``modelfile``)."""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array

from larch_motif.errors import LarchMotifError, ModelFileError
from larch_motif.modelfile import file_metadata, npy_array, npy_bytes, read_archive, write_archive
from larch_motif.models import backend_trait, checked_input, explained_model, get_backend
from larch_motif.spectra import Preprocessing

RECONSTRUCTION_FORMAT = "larch_motif-reconstruction"
RECONSTRUCTION_FORMAT_VERSION = 1

#: Database descriptors the database reconstruction model takes (categorical ones coded).
DATABASE_PARAMETERS: tuple[tuple[str, str, str], ...] = (
    ("cn", "", "continuous"),
    ("motif", "", "categorical"),
    ("ligands", "", "categorical"),
    ("oxidation_state", "", "continuous"),
    ("bond_mean_A", "Angstrom", "continuous"),
    ("bond_std_A", "Angstrom", "continuous"),
    ("angle_std_deg", "degree", "continuous"),
)

#: Backend of the default reconstruction models (the best held-out R-squared in
#: benchmarks/reconstruction.py; docs/validation/reconstruction.md).
DEFAULT_BACKEND = "lightgbm"
DEFAULT_COMPONENTS = 10



def r_factor(model: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """XANES R-factor ``sum((model - reference)**2) / sum(reference**2)`` per row (last axis)."""
    model, reference = np.asarray(model, float), np.asarray(reference, float)
    return ((model - reference) ** 2).sum(-1) / (reference**2).sum(-1)


class SpectrumReconstructor(RegressorMixin, BaseEstimator):
    """Regressor of spectra (n, n_energies) from structural parameters (n, n_parameters).

    backend: a registered backend with a ``regressor`` factory (rf, xgboost, lightgbm, ...).
    n_components: principal components of the spectra the trees predict; ``None`` predicts
        every energy point directly.
    backend_params: hyper-parameters of the backend's regressor.
    random_state: seed of the regressors.
    """

    def __init__(self, backend: str = DEFAULT_BACKEND, n_components: int | None = DEFAULT_COMPONENTS,
                 backend_params: dict | None = None, random_state: int = 0) -> None:
        self.backend = backend
        self.n_components = n_components
        self.backend_params = backend_params
        self.random_state = random_state

    def fit(self, X: np.ndarray, Y: np.ndarray) -> SpectrumReconstructor:
        X = check_array(X, dtype=float)
        Y = check_array(Y, dtype=float)
        if Y.shape[0] != X.shape[0]:
            raise LarchMotifError(f"Y has {Y.shape[0]} spectra for {X.shape[0]} parameter rows")
        self.backend_ = get_backend(self.backend)
        self.mean_spectrum_ = Y.mean(axis=0)
        if self.n_components:
            k = min(int(self.n_components), *Y.shape)
            _, _, vt = np.linalg.svd(Y - self.mean_spectrum_, full_matrices=False)
            self.components_ = vt[:k]
        else:
            self.components_ = np.eye(Y.shape[1])
        targets = (Y - self.mean_spectrum_) @ self.components_.T
        # each backend's reconstruction_params: its estimator sees a handful of structural
        # parameters, not a spectrum (``models.ModelBackend``)
        params = {**backend_trait(self.backend_, "reconstruction_params"), **(self.backend_params or {})}
        if backend_trait(self.backend_, "multi_output"):  # one regressor for every coefficient
            est = self.backend_.regressor(random_state=self.random_state, **params)
            self.estimators_ = [est.fit(X, targets)]
        else:
            self.estimators_ = [self.backend_.regressor(random_state=self.random_state, **params).fit(X, t)
                                for t in targets.T]
        self.n_features_in_ = X.shape[1]
        self.n_outputs_ = Y.shape[1]
        return self

    def coefficients(self, X: np.ndarray) -> np.ndarray:
        """Predicted basis coefficients (n, n_components)."""
        X = checked_input(self, X, "estimators_", "parameters")
        if len(self.estimators_) == 1 and self.components_.shape[0] > 1:
            return np.asarray(self.backend_.predict(self.estimators_[0], X), float).reshape(X.shape[0], -1)
        return np.column_stack([self.backend_.predict(e, X) for e in self.estimators_])

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstructed spectra (n, n_energies)."""
        return self.mean_spectrum_ + self.coefficients(X) @ self.components_

    def shap_values(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """TreeSHAP on the energy axis: values (n, n_parameters, n_energies) and the expected
        spectrum (n_energies,); ``expected + values.sum(1)`` equals ``predict(X)``."""
        import shap

        X = check_array(X, dtype=float)
        if not getattr(self.backend_, "tree_explainer", False):
            raise LarchMotifError(f"backend {self.backend_.name!r} declares no TreeSHAP support")
        explainers = getattr(self, "_explainers", None)
        if explainers is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                explainers = [shap.TreeExplainer(explained_model(self.backend_, e)) for e in self.estimators_]
            self._explainers = explainers
        values, expected = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for explainer in explainers:
                v = np.asarray(explainer.shap_values(X), float)
                values.append(v if v.ndim == 3 else v[:, :, None])
                expected.append(np.atleast_1d(np.asarray(explainer.expected_value, float)))
        coef_values = np.concatenate(values, axis=2)  # (n, p, k)
        coef_expected = np.concatenate(expected)
        return (np.einsum("npk,ke->npe", coef_values, self.components_),
                self.mean_spectrum_ + coef_expected @ self.components_)


@dataclass(frozen=True)
class Parameter:
    """An input of a reconstruction model: name, unit, kind and its trained range or categories."""

    name: str
    unit: str
    kind: str  # 'continuous' or 'categorical'
    low: float | None = None
    high: float | None = None
    categories: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.name} (one of {', '.join(self.categories)})"
        return f"{self.name} (trained range {self.low:g} to {self.high:g}{' ' + self.unit if self.unit else ''})"


@dataclass
class ReconstructionModel:
    """A fitted reconstructor with its parameters, energy grid and provenance.

    series: ``'database'`` or the parametric series name (e.g. ``'Fe O:6 hematite'``).
    """

    reconstructor: SpectrumReconstructor
    element: str
    edge: str
    series: str
    parameters: list[Parameter]
    preprocessing: Preprocessing
    training_X: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def energy(self) -> np.ndarray:
        """Energy grid of the reconstructed spectra (eV relative to E0 at half the edge step)."""
        return self.preprocessing.grid()

    def encode(self, values: dict[str, object]) -> tuple[np.ndarray, list[str]]:
        """One parameter row from ``{name: value}`` and the extrapolation warnings.

        An unknown or missing parameter, a value that is not a number or an unknown category
        raises ``LarchMotifError`` naming the parameter and its trained range; a value outside
        the trained range is used but flagged.
        """
        known = {p.name: p for p in self.parameters}
        unknown = [k for k in values if k not in known]
        if unknown:
            raise LarchMotifError(f"unknown parameter {unknown[0]!r}: the {self.series} model takes "
                                  + "; ".join(p.describe() for p in self.parameters))
        missing = [p for p in self.parameters if p.name not in values]
        if missing:
            raise LarchMotifError("missing parameter " + "; ".join(p.describe() for p in missing))
        row, warns = [], []
        for p in self.parameters:
            value = values[p.name]
            if p.kind == "categorical":
                if str(value) not in p.categories:
                    raise LarchMotifError(f"{p.name} {value!r} unknown to the model: {p.describe()}")
                row.append(float(p.categories.index(str(value))))
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise LarchMotifError(f"{p.name} {value!r} is not a number: {p.describe()}") from None
            if not np.isfinite(number):
                raise LarchMotifError(f"{p.name} {value!r} is not a finite number: {p.describe()}")
            if number < p.low or number > p.high:
                warns.append(f"extrapolation: {p.name} = {number:g} is outside the {p.describe()[len(p.name) + 2:-1]}; "
                             "the trees hold the value at the edge of the range")
            row.append(number)
        return np.array(row), warns

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Reconstructed normalized mu (n, n_energies) of encoded parameter rows X."""
        return self.reconstructor.predict(X)

    def reconstruct(self, values: dict[str, object]) -> dict:
        """The spectrum of one parameter set: ``energy`` (eV relative to E0), ``mu``
        (normalized), ``parameters``, ``in_range`` and ``warnings``."""
        x, warns = self.encode(values)
        mu = self.predict(x[None])[0]
        return {"element": self.element, "edge": self.edge, "series": self.series,
                "parameters": dict(values), "energy": self.energy.tolist(), "mu": mu.tolist(),
                "in_range": not warns, "warnings": warns}

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model file (zip of JSON, .npy arrays and the backend's own format)."""
        rec = self.reconstructor
        members = {name: npy_bytes(np.asarray(array, float)) for name, array in (
            ("mean_spectrum.npy", rec.mean_spectrum_), ("components.npy", rec.components_),
            ("training_parameters.npy", self.training_X))}
        for k, est in enumerate(rec.estimators_):
            members[f"estimator_{k}.bin"] = rec.backend_.dumps(est)
        meta = {
            **file_metadata(RECONSTRUCTION_FORMAT, RECONSTRUCTION_FORMAT_VERSION, self.element, self.edge,
                            rec.backend_, self.preprocessing, rec.backend_params, rec.random_state,
                            rec.n_features_in_, self.energy),
            "series": self.series,
            "parameters": [p.__dict__ | {"categories": list(p.categories)} for p in self.parameters],
            "n_components": rec.n_components, "n_estimators": len(rec.estimators_), **self.metadata,
        }
        return write_archive(path, meta, members)


def load_reconstruction_model(path: str | os.PathLike) -> ReconstructionModel:
    """Read a reconstruction model file (never unpickled; SHA-256 of every member checked)."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            n = int(json.loads(zf.read("metadata.json")).get("n_estimators", 0))
    except Exception:  # read_archive gives the precise message below
        n = 0
    names = ("mean_spectrum.npy", "components.npy", "training_parameters.npy",
             *(f"estimator_{k}.bin" for k in range(n)))
    meta, members = read_archive(path, RECONSTRUCTION_FORMAT, RECONSTRUCTION_FORMAT_VERSION, names)
    if n < 1:
        raise ModelFileError(f"{path}: reconstruction model without estimators")
    arrays = {name: npy_array(members[name]) for name in names[:3]}
    rec = SpectrumReconstructor(meta["backend"], meta["n_components"], meta.get("backend_params") or None,
                                meta.get("random_state", 0))
    rec.backend_ = get_backend(meta["backend"])
    rec.estimators_ = [rec.backend_.loads(members[f"estimator_{k}.bin"]) for k in range(n)]
    for est in rec.estimators_:  # as fitted: predict in one thread (scikit-learn-style estimators)
        if "n_jobs" in getattr(est, "get_params", dict)():
            est.set_params(n_jobs=1)
    rec.mean_spectrum_ = arrays["mean_spectrum.npy"]
    rec.components_ = arrays["components.npy"]
    rec.n_features_in_ = int(meta["n_features"])
    rec.n_outputs_ = rec.components_.shape[1]
    params = [Parameter(p["name"], p["unit"], p["kind"], p.get("low"), p.get("high"), tuple(p.get("categories", ())))
              for p in meta["parameters"]]
    known = {"element", "edge", "series", "parameters", "preprocessing"}
    return ReconstructionModel(rec, meta["element"], meta["edge"], meta["series"], params,
                               Preprocessing.from_dict(meta["preprocessing"]),
                               arrays["training_parameters.npy"], {k: v for k, v in meta.items() if k not in known})


