"""What the built-in backends share: estimators with scikit-learn's ``predict_proba`` and
``predict``, explained by TreeSHAP as they are (a backend overrides ``explained_model`` where
TreeSHAP reads an inner booster)."""

from __future__ import annotations

import numpy as np


class EstimatorBackend:
    """Base of the built-in backends: calls through to the fitted estimator."""

    def predict_proba(self, estimator, X: np.ndarray) -> np.ndarray:
        """Class probabilities (n, n_classes) of feature rows X."""
        return estimator.predict_proba(X)

    def predict(self, estimator, X: np.ndarray) -> np.ndarray:
        """Predicted classes or values of feature rows X."""
        return estimator.predict(X)

    def explained_model(self, estimator):
        """The model TreeSHAP explains: the estimator itself."""
        return estimator
