"""Random forest (scikit-learn) as a model backend plugin.

Saved with skops and loaded with an allow-list of scikit-learn tree types: never unpickled.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np

from larch_motif.errors import ModelFileError
from larch_motif.hookspecs import hookimpl
from larch_motif.plugins._estimator import EstimatorBackend

TRUSTED_TYPES = [
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
    "numpy.ndarray",
    "builtins.slice",
]


class RandomForestBackend(EstimatorBackend):
    """scikit-learn ``RandomForestClassifier`` / ``RandomForestRegressor``."""

    name = "rf"
    tree_explainer = True
    output_space = "probability"
    weighs_classes = True  # RandomForestClassifier(class_weight=...)
    multi_output = True  # one forest predicts every reconstruction coefficient
    reconstruction_params = {"max_features": 1.0, "n_jobs": 1}  # few inputs: every split sees all; one thread
    defaults = {"n_estimators": 300, "min_samples_leaf": 1, "max_features": "sqrt", "n_jobs": -1}

    def versions(self) -> dict[str, str]:
        return {"scikit-learn": importlib.metadata.version("scikit-learn"),
                "skops": importlib.metadata.version("skops")}

    def classifier(self, random_state: int = 0, class_weight: str | None = "balanced", **params: object):
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**{**self.defaults, **params}, class_weight=class_weight,
                                      random_state=random_state)

    def regressor(self, random_state: int = 0, **params: object):
        from sklearn.ensemble import RandomForestRegressor

        defaults = {**self.defaults, "max_features": 0.33}
        return RandomForestRegressor(**{**defaults, **params}, random_state=random_state)

    def raw_output(self, estimator, X: np.ndarray) -> np.ndarray:
        return estimator.predict_proba(X)

    def dumps(self, estimator) -> bytes:
        import skops.io as sio

        return sio.dumps(estimator)

    def loads(self, data: bytes):
        import skops.io as sio

        try:
            untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
        except Exception as exc:  # not a skops archive (a pickle, junk): never unpickled
            raise ModelFileError(f"random forest model is not a skops archive: {exc}") from None
        if untrusted:
            raise ModelFileError(f"model file holds types outside the allow-list: {', '.join(untrusted[:5])}")
        try:
            return sio.loads(data, trusted=TRUSTED_TYPES)
        except Exception as exc:
            raise ModelFileError(f"random forest model does not load: {exc}") from None


@hookimpl
def larch_motif_model_backends() -> list:
    return [RandomForestBackend()]
