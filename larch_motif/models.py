"""Classifiers of coordination number and motif: the estimator, training, model files.

``MotifClassifier`` follows the scikit-learn estimator contract (works with
``cross_validate``, ``GroupKFold`` and pipelines): it takes feature arrays from
``spectra.features`` and delegates to a backend from the hook layer (rf, xgboost, lightgbm or
a plugin's). ``MotifModel`` is a fitted classifier with everything needed to use it on a new
spectrum: element, edge, target, preprocessing, label vocabulary, the training feature matrix
for the in-domain check, versions and the database hash. Model files (``modelfile``) are zip
archives of JSON and the backend's own safe format (never a pickle), each member checked by
SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from larch_motif.errors import LarchMotifError, ModelFileError
from larch_motif.modelfile import file_metadata, npy_array, npy_bytes, read_archive, write_archive
from larch_motif.spectra import Preprocessing

MODEL_FORMAT = "larch_motif-model"
MODEL_FORMAT_VERSION = 1
TARGETS = ("cn", "motif", "metallic")
#: Regression targets: ``cn_mean`` is the site-averaged CN of a compound (multiplicity-weighted
#: over its absorber sites), learned from the database's compound spectra.
REGRESSION_TARGETS = ("cn_mean",)


@runtime_checkable
class ModelBackend(Protocol):
    """What a model backend plugin provides (see ``larch_motif/plugins/sklearn_rf.py`` for an example).

    The core never asks a backend its name; it reads what the backend declares:

    - ``tree_explainer``: TreeSHAP can explain ``explained_model(estimator)``;
    - ``output_space``: ``'probability'`` (SHAP adds up to class probabilities) or
      ``'margin'`` (log-odds; ``raw_output`` gives them);
    - ``weighs_classes``: its classifier applies ``class_weight`` itself; where False the core
      passes class-balanced ``sample_weight`` to ``fit`` instead;
    - ``multi_output``: one of its regressors fits several targets at once (else one per target);
    - ``reconstruction_params``: hyper-parameters for the reconstruction regressors (a handful of
      structural parameters in, not a spectrum).

    ``backend_trait`` reads these with the defaults of a backend that does not declare them.
    """

    name: str
    tree_explainer: bool
    output_space: str
    weighs_classes: bool
    multi_output: bool
    reconstruction_params: dict

    def versions(self) -> dict[str, str]: ...
    def classifier(self, random_state: int = 0, class_weight: str | None = "balanced", **params: object): ...
    def regressor(self, random_state: int = 0, **params: object): ...
    def predict_proba(self, estimator, X: np.ndarray) -> np.ndarray: ...
    def predict(self, estimator, X: np.ndarray) -> np.ndarray: ...
    def dumps(self, estimator) -> bytes: ...
    def loads(self, data: bytes): ...
    def explained_model(self, estimator): ...
    def raw_output(self, estimator, X: np.ndarray) -> np.ndarray: ...


#: What a backend that does not declare a trait is taken to have
BACKEND_TRAIT_DEFAULTS: dict[str, object] = {"tree_explainer": False, "output_space": "probability",
                                             "weighs_classes": False, "multi_output": False,
                                             "reconstruction_params": {}}


def backend_trait(backend: ModelBackend, trait: str) -> object:
    """A declared trait of ``backend`` (``ModelBackend``), else its default (``BACKEND_TRAIT_DEFAULTS``)."""
    return getattr(backend, trait, BACKEND_TRAIT_DEFAULTS[trait])


def explained_model(backend: ModelBackend, estimator):
    """What TreeSHAP explains for ``estimator``: the backend's ``explained_model``, else itself."""
    method = getattr(backend, "explained_model", None)
    return method(estimator) if method is not None else estimator


def raw_output(backend: ModelBackend, estimator, X: np.ndarray) -> np.ndarray:
    """The estimator's own output in its ``output_space``: probabilities, or the margins from the
    backend's ``raw_output`` (a margin backend must provide it)."""
    if backend_trait(backend, "output_space") == "probability":
        return backend.predict_proba(estimator, X)
    method = getattr(backend, "raw_output", None)
    if method is None:
        raise LarchMotifError(f"backend {backend.name!r} has margin output but no raw_output()")
    return np.asarray(method(estimator, X), float)


def available_backends() -> dict[str, ModelBackend]:
    """Backends registered through the hook layer, by name."""
    from larch_motif.plugins import registered

    return registered("larch_motif_model_backends")


def get_backend(name: str) -> ModelBackend:
    """The backend called ``name``; a clear error lists the available ones."""
    from larch_motif.plugins import lookup

    return lookup("larch_motif_model_backends", name, "backend")


def checked_input(estimator: BaseEstimator, X: np.ndarray, fitted: str, what: str = "features") -> np.ndarray:
    """``X`` as a float array for a fitted ``estimator`` (``fitted``: its learned attribute),
    refused when its number of columns (``what``) is not the one the estimator was fitted on."""
    check_is_fitted(estimator, fitted)
    X = check_array(X, dtype=float)
    if X.shape[1] != estimator.n_features_in_:
        raise LarchMotifError(f"X has {X.shape[1]} {what}, but {type(estimator).__name__} is expecting "
                              f"{estimator.n_features_in_} {what} as input")
    return X


class MotifClassifier(ClassifierMixin, BaseEstimator):
    """Classifier of spectra features (n_spectra, n_features) into CN or motif labels.

    backend: name of a registered backend (``rf``, ``xgboost``, ``lightgbm``, ...).
    backend_params: hyper-parameters passed to the backend's estimator.
    class_weight: ``'balanced'`` weighs classes inversely to their frequency, or ``None``.
    random_state: seed of the backend estimator.
    shape_components: number of whole-spectrum shape features appended to the grid: the scores
        of the spectrum on the first principal components of the training spectra (fitted in
        ``fit``; 0: the grid alone). A split on one score follows a shape over the whole grid,
        as the nearest reference's cosine does; each score is a linear sum over the grid, so
        ``fold_shape`` carries its SHAP value back onto the energy axis (it adds up).
    """

    def __init__(self, backend: str = "rf", backend_params: dict | None = None,
                 class_weight: str | None = "balanced", random_state: int = 0,
                 shape_components: int = 0) -> None:
        self.backend = backend
        self.backend_params = backend_params
        self.class_weight = class_weight
        self.random_state = random_state
        self.shape_components = shape_components

    def fit_shape(self, X: np.ndarray) -> None:
        """Fit the shape basis (``shape_mean_``, ``shape_basis_``: principal components, one per
        row) on the training rows X; none where ``shape_components`` is 0."""
        k = int(self.shape_components or 0)
        if k <= 0:
            self.shape_mean_, self.shape_basis_ = None, None
            return
        if k > min(X.shape) - 1:
            raise LarchMotifError(f"{k} shape components need more than {k} training spectra and features "
                                  f"(given {X.shape[0]} x {X.shape[1]})")
        self.shape_mean_ = X.mean(axis=0)
        _, _, vt = np.linalg.svd(X - self.shape_mean_, full_matrices=False)
        signs = np.sign(vt[:k, np.argmax(np.abs(vt[:k]), axis=1)].diagonal())  # a deterministic sign
        self.shape_basis_ = vt[:k] * signs[:, None]

    def expand(self, X: np.ndarray) -> np.ndarray:
        """What the backend estimator sees: the grid X (n, n_features), with the shape scores
        appended where the model has a shape basis."""
        basis = getattr(self, "shape_basis_", None)
        if basis is None:
            return X
        return np.hstack([X, (X - self.shape_mean_) @ basis.T])

    def fold_shape(self, values: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Attributions of the expanded features (n, n_features + k, ...: SHAP values, any
        trailing axes such as classes) carried onto the grid (n, n_features, ...). Score j is the
        sum over the grid of the terms basis_j(E) (x(E) - mean(E)); its value is split over the
        energies in proportion to |term| (the shares are positive and add up to 1, so each
        row still adds up, and no energy gets more than the score's own value: a split by the
        signed terms blows up where they nearly cancel). A spectrum equal to the mean splits by
        |basis_j(E)|."""
        basis = getattr(self, "shape_basis_", None)
        values = np.asarray(values, float)
        if basis is None:
            return values
        n = X.shape[1]
        terms = np.abs((X - self.shape_mean_)[:, None, :] * basis[None, :, :])  # (n, k, n_features)
        total = terms.sum(axis=2, keepdims=True)
        flat = np.abs(basis) / np.abs(basis).sum(axis=1, keepdims=True)
        share = np.where(total > 0, terms / np.where(total > 0, total, 1.0), flat[None])
        grid, shape = values[:, :n], values[:, n:]
        return grid + np.einsum("nkf,nk...->nf...", share, shape)

    def fold_importance(self, importance: np.ndarray) -> np.ndarray:
        """A per-feature importance (n_features + k,) on the grid (n_features,): each score's
        share spread over the energies by its basis squared (a unit vector)."""
        basis = getattr(self, "shape_basis_", None)
        importance = np.asarray(importance, float)
        if basis is None:
            return importance
        n = basis.shape[1]
        return importance[:n] + importance[n:] @ basis ** 2

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None,
            shape_rows: np.ndarray | None = None) -> MotifClassifier:
        """Fit on features X (n_spectra, n_features) and labels y (any type; the database's are
        strings such as ``'6'`` or ``'O:6'``), optionally weighted per spectrum. ``shape_rows``
        (boolean, one per spectrum): the rows the shape basis is fitted on (the database's own
        spectra, not their augmented copies); default all."""
        X, y = check_X_y(X, y, dtype=float)
        self.fit_shape(X if shape_rows is None else X[np.asarray(shape_rows, bool)])
        check_classification_targets(y)
        if sample_weight is not None:  # spectra of weight 0 do not count towards the classes
            sample_weight = checked_weights(sample_weight, X.shape[0])
        self.classes_, codes = np.unique(y if sample_weight is None else y[sample_weight > 0], return_inverse=True)
        if self.classes_.size < 2:
            raise LarchMotifError(f"training needs at least two classes (one class given: "
                                  f"{', '.join(map(str, self.classes_))})")
        if sample_weight is not None:
            codes = np.searchsorted(self.classes_, y[sample_weight > 0])
            X, sample_weight = X[sample_weight > 0], sample_weight[sample_weight > 0]
        self.backend_ = get_backend(self.backend)
        self.estimator_ = self.backend_.classifier(random_state=self.random_state,
                                                   class_weight=self.class_weight,
                                                   **(self.backend_params or {}))
        weights = np.ones(len(codes)) if sample_weight is None else np.asarray(sample_weight, float)
        if self.class_weight == "balanced" and not backend_trait(self.backend_, "weighs_classes"):
            counts = np.bincount(codes)
            weights = weights * (len(codes) / (len(counts) * counts[codes]))
        self.estimator_.fit(self.expand(X), codes, sample_weight=weights)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        X = checked_input(self, X, "estimator_")
        return self.backend_.predict_proba(self.estimator_, self.expand(X))

    def predict(self, X: np.ndarray) -> np.ndarray:
        proba = self.predict_proba(X)  # refuses an unfitted model before classes_ is read
        return self.classes_[proba.argmax(axis=1)]


def checked_weights(sample_weight: object, n_spectra: int) -> np.ndarray:
    """Training weights as an array: one finite, non-negative weight per spectrum, not all zero
    (``LarchMotifError`` otherwise)."""
    w = np.asarray(sample_weight, float)
    if w.shape != (n_spectra,) or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.any():
        raise LarchMotifError("sample_weight must hold one finite, non-negative weight per spectrum, not all zero")
    return w


class SiteAverageRegressor(RegressorMixin, BaseEstimator):
    """Regressor of a number per spectrum (the site-averaged CN) through a backend's
    ``regressor``; same parameters and learned state as ``MotifClassifier`` so that model
    files hold either."""

    def __init__(self, backend: str = "rf", backend_params: dict | None = None, random_state: int = 0) -> None:
        self.backend = backend
        self.backend_params = backend_params
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> SiteAverageRegressor:
        """Fit on features X (n_spectra, n_features) and numbers y (the site-averaged CN);
        ``sample_weight``: one non-negative training weight per spectrum, not all zero (default:
        all 1)."""
        X, y = check_X_y(X, y, dtype=float, y_numeric=True)
        if sample_weight is not None:
            sample_weight = checked_weights(sample_weight, X.shape[0])
        self.backend_ = get_backend(self.backend)
        self.estimator_ = self.backend_.regressor(random_state=self.random_state, **(self.backend_params or {}))
        self.estimator_.fit(X, y, **({} if sample_weight is None else {"sample_weight": sample_weight}))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        X = checked_input(self, X, "estimator_")
        return np.asarray(self.backend_.predict(self.estimator_, X), float)


def temper(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling of class probabilities: p_i**(1/T), renormalized per row.

    T < 1 sharpens an under-confident model (a class-balanced random forest spreads its votes),
    T > 1 softens an over-confident one; T = 1 changes nothing. The ranking of the classes
    never changes, and a class with p = 0 keeps 0.
    """
    p = np.asarray(probabilities, float)
    if temperature == 1.0:
        return p
    with np.errstate(divide="ignore"):  # log(0) = -inf: an excluded class stays at 0
        logp = np.log(p) / temperature
    logp -= logp.max(axis=1, keepdims=True)
    w = np.exp(logp)
    return w / w.sum(axis=1, keepdims=True)


@dataclass
class MotifModel:
    """A fitted classifier with the metadata that makes it usable and checkable."""

    classifier: MotifClassifier
    element: str
    edge: str
    target: str
    preprocessing: Preprocessing
    training_features: np.ndarray
    metadata: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in getattr(self.classifier, "classes_", [])]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The backend's class probabilities (what SHAP explains), columns in ``classes`` order."""
        return self.classifier.predict_proba(X)

    @property
    def temperature(self) -> float:
        """Temperature of the class probabilities, fitted on held-out minerals at training
        (``training.fit_temperature``); 1 for a model trained without CV."""
        return float(self.metadata.get("temperature") or 1.0)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class labels (classifiers) or values (``cn_mean``) of feature rows."""
        return self.classifier.predict(X)

    def confidence(self, p_max: np.ndarray) -> np.ndarray:
        """Calibrated confidence: the held-out chance (grouped CV at training) that a top class
        given with probability ``p_max`` is right; ``p_max`` itself for a model trained without
        CV (no calibration in its file)."""
        cal = self.metadata.get("calibration")
        p_max = np.asarray(p_max, float)
        if not cal or len(cal.get("p_max", [])) < 2:
            return p_max
        return np.interp(p_max, cal["p_max"], cal["accuracy"])

    def domain_distance(self, X: np.ndarray) -> np.ndarray:
        """RMS distance of each spectrum to its nearest training spectrum (normalized units)."""
        X = np.atleast_2d(np.asarray(X, float))
        T = self.training_features
        d2 = (X**2).sum(1)[:, None] + (T**2).sum(1)[None, :] - 2 * X @ T.T
        return np.sqrt(np.maximum(d2.min(axis=1), 0) / X.shape[1])

    def save(self, path: str | Path) -> Path:
        """Write the model file (zip of JSON, numpy .npy and the backend's format)."""
        backend = self.classifier.backend_
        members = {"estimator.bin": backend.dumps(self.classifier.estimator_),
                   "training_features.npy": npy_bytes(self.training_features.astype(np.float32))}
        basis = getattr(self.classifier, "shape_basis_", None)
        if basis is not None:  # row 0: the mean spectrum; then one principal component per row
            members["shape.npy"] = npy_bytes(np.vstack([self.classifier.shape_mean_, basis]))
        meta = {
            **file_metadata(MODEL_FORMAT, MODEL_FORMAT_VERSION, self.element, self.edge, backend,
                            self.preprocessing, self.classifier.backend_params, self.classifier.random_state,
                            self.classifier.n_features_in_, self.preprocessing.feature_energies()),
            "target": self.target,
            "classes": self.classes,
            "class_weight": getattr(self.classifier, "class_weight", None),
            "shape_components": 0 if basis is None else int(basis.shape[0]),
            **self.metadata,
        }
        return write_archive(path, meta, members)


def load_model(path: str | Path) -> MotifModel:
    """Read a model file; refuse foreign, tampered or incompatible files with ``ModelFileError``.

    Nothing in the file is unpickled: metadata is JSON, features are ``.npy`` read with
    ``allow_pickle=False``, and the estimator is read by its backend's safe loader.
    """
    meta, members = read_archive(path, MODEL_FORMAT, MODEL_FORMAT_VERSION,
                                 ("estimator.bin", "training_features.npy"), optional=("shape.npy",))
    if meta.get("shape_components") and "shape.npy" not in members:
        raise ModelFileError(f"{path}: not a larch_motif model file (its shape features are missing)")
    backend = get_backend(meta["backend"])
    estimator = backend.loads(members["estimator.bin"])
    training = npy_array(members["training_features.npy"]).astype(float)
    if meta.get("target") in REGRESSION_TARGETS:
        clf = SiteAverageRegressor(meta["backend"], meta.get("backend_params") or None, meta.get("random_state", 0))
    else:
        clf = MotifClassifier(meta["backend"], meta.get("backend_params") or None,
                              meta.get("class_weight"), meta.get("random_state", 0),
                              int(meta.get("shape_components") or 0))
        clf.classes_ = np.array(meta["classes"])
        clf.shape_mean_, clf.shape_basis_ = None, None
        if clf.shape_components:
            shape = npy_array(members["shape.npy"]).astype(float)
            clf.shape_mean_, clf.shape_basis_ = shape[0], shape[1:]
    clf.backend_ = backend
    clf.estimator_ = estimator
    clf.n_features_in_ = int(meta["n_features"])
    known = {"element", "edge", "target", "preprocessing"}
    return MotifModel(clf, meta["element"], meta["edge"], meta["target"],
                      Preprocessing.from_dict(meta["preprocessing"]), training,
                      {k: v for k, v in meta.items() if k not in known})

