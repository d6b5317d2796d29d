"""The simple methods a scientist would otherwise use, as classifiers on the same features.

Each follows the scikit-learn classifier contract (``fit(X, y)`` returns self, ``predict(X)``
returns labels, learned state ends in ``_``), takes the feature vectors of
``spectra.features`` (normalized mu on the model grid, eV relative to E0) and is scored by the
same grouped cross-validation and the same measured references as the tree models:

- ``MajorityBaseline``: always the most frequent class of the training spectra; its
  ``predict_proba`` is the share of each class among them (the class prior).
- ``NearestReferenceBaseline``: the class of the training spectrum most similar to the
  spectrum (cosine similarity of the normalized spectra), as a scientist comparing with a
  library of references would do.
- ``LarchPLSBaseline``: Larch's own ``larch.math.learn_regress.pls_train`` (partial least
  squares regression of the CN on the normalized spectra, held in Larch Groups), its
  prediction rounded to the nearest CN seen in training. CN only: a motif is not a number.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_array, check_is_fitted

from larch_motif.errors import LarchMotifError


class MajorityBaseline(ClassifierMixin, BaseEstimator):
    """Answers the most frequent training class for every spectrum."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> MajorityBaseline:
        y = np.asarray(y).astype(str)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.majority_ = self.classes_[int(np.argmax(counts))]
        self.prior_ = counts / counts.sum()
        self.n_features_in_ = check_array(X, dtype=float).shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "majority_")
        return np.full(check_array(X, dtype=float).shape[0], self.majority_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """The training share of each class (columns in ``classes_`` order), for every spectrum."""
        check_is_fitted(self, "prior_")
        return np.tile(self.prior_, (check_array(X, dtype=float).shape[0], 1))


class NearestReferenceBaseline(ClassifierMixin, BaseEstimator):
    """The class of the most similar training spectrum (cosine similarity of features)."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> NearestReferenceBaseline:
        X = check_array(X, dtype=float)
        self.references_ = X / np.linalg.norm(X, axis=1, keepdims=True)
        self.labels_ = np.asarray(y).astype(str)
        self.classes_ = np.unique(self.labels_)
        self.n_features_in_ = X.shape[1]
        return self

    def similarity(self, X: np.ndarray) -> np.ndarray:
        """Cosine similarity (n_spectra, n_references) of spectra to the training spectra."""
        check_is_fitted(self, "references_")
        X = check_array(X, dtype=float)
        return (X / np.linalg.norm(X, axis=1, keepdims=True)) @ self.references_.T

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.labels_[self.similarity(X).argmax(axis=1)]


class LarchPLSBaseline(ClassifierMixin, BaseEstimator):
    """Larch's PLS regression of CN on normalized spectra, rounded to a training CN.

    energy_eV: feature energies (eV relative to E0), the ``x`` of the Larch Groups; where they
        do not rise (the derivative channel of ``Preprocessing(derivative=True)`` repeats the
        grid) the feature index is the ``x`` instead. Every Group shares it, so Larch's
        interpolation onto the common grid changes nothing either way.
    ncomps: number of PLS components (Larch's ``pls_train`` default is 2).
    """

    def __init__(self, energy_eV: np.ndarray | None = None, ncomps: int = 4) -> None:
        self.energy_eV = energy_eV
        self.ncomps = ncomps

    def _groups(self, X: np.ndarray, y: np.ndarray | None = None) -> list:
        from larch import Group

        energy = (np.arange(X.shape[1], dtype=float) if self.energy_eV is None
                  else np.asarray(self.energy_eV, float))
        if energy.size != X.shape[1]:
            raise LarchMotifError(f"energy_eV has {energy.size} points for {X.shape[1]} features")
        if np.any(np.diff(energy) <= 0):  # a derivative channel repeats the grid: Larch
            energy = np.arange(X.shape[1], dtype=float)  # interpolates on x, so x must rise
        return [Group(energy=energy, norm=row, **({} if y is None else {"cn": float(v)}))
                for row, v in zip(X, y if y is not None else [None] * len(X))]

    def fit(self, X: np.ndarray, y: np.ndarray) -> LarchPLSBaseline:
        from larch.math.learn_regress import pls_train

        X = check_array(X, dtype=float)
        labels = np.asarray(y).astype(str)
        try:
            values = labels.astype(float)
        except ValueError:
            raise LarchMotifError("the Larch PLS baseline regresses a number (CN), not a motif") from None
        self.classes_ = np.unique(labels)
        self.class_values_ = self.classes_.astype(float)
        self.model_ = pls_train(self._groups(X, values), varname="cn", arrayname="norm",
                                ncomps=self.ncomps, skip_cv=True)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_value(self, X: np.ndarray) -> np.ndarray:
        """The PLS estimate of the CN (a real number) for each spectrum."""
        from larch.math.learn_regress import pls_predict

        check_is_fitted(self, "model_")
        X = check_array(X, dtype=float)
        return np.array([float(np.ravel(pls_predict(g, self.model_))[0]) for g in self._groups(X)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        values = self.predict_value(X)
        nearest = np.abs(values[:, None] - self.class_values_[None, :]).argmin(axis=1)
        return self.classes_[nearest]


def class_probabilities(classifier: ClassifierMixin, X: np.ndarray) -> np.ndarray:
    """Class probabilities (n_spectra, n_classes, columns in ``classifier.classes_`` order) of
    a fitted classifier; one that has no ``predict_proba`` (the nearest reference, the rounded
    PLS estimate) gives 1 to the class it answers and 0 to the others."""
    if hasattr(classifier, "predict_proba"):
        return np.asarray(classifier.predict_proba(X), float)
    answers = np.asarray(classifier.predict(X)).astype(str)
    return (answers[:, None] == np.asarray(classifier.classes_).astype(str)[None, :]).astype(float)


def brier_scores(probabilities: np.ndarray, classes: list[str], truth: np.ndarray) -> np.ndarray:
    """Multi-class Brier score of each answer: sum over classes of (p - [class is truth])**2.

    probabilities: (n_spectra, n_classes) in ``classes`` order; truth: the n true classes (a
    truth outside ``classes`` had p = 0). 0 is a sure right answer, 2 a sure wrong one; a
    method that answers one class without a probability (the nearest reference, the rounded PLS
    estimate) counts as sure of it.
    """
    truth = np.asarray(truth).astype(str)
    onehot = (truth[:, None] == np.asarray(classes).astype(str)[None, :]).astype(float)
    missing = ~onehot.any(axis=1)
    return ((np.asarray(probabilities, float) - onehot) ** 2).sum(axis=1) + missing


def brier_score(probabilities: dict[str, float], truth: str) -> float:
    """``brier_scores`` of one answer given as class -> probability (classes left out have 0)."""
    classes = list(probabilities)
    return float(brier_scores(np.array([[probabilities[c] for c in classes]]), classes, np.array([truth]))[0])


def baselines(target: str, energy_eV: np.ndarray) -> dict[str, ClassifierMixin]:
    """The baselines that apply to ``target`` ('cn' or 'motif'), by name."""
    found: dict[str, ClassifierMixin] = {}
    if target == "cn":
        found["larch_pls"] = LarchPLSBaseline(energy_eV=energy_eV)
    found["nearest_reference"] = NearestReferenceBaseline()
    found["majority"] = MajorityBaseline()
    return found
