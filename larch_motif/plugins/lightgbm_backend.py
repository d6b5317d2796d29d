"""LightGBM as a model backend plugin; models are saved in LightGBM's text format."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np

from larch_motif.errors import ModelFileError
from larch_motif.hookspecs import hookimpl
from larch_motif.plugins._estimator import EstimatorBackend


class LoadedBooster:
    """A LightGBM model read back from text: ``predict_proba``/``predict`` and ``booster_``."""

    def __init__(self, booster, kind: str, n_classes: int) -> None:
        self.booster_ = booster
        self.kind = kind
        self.n_classes_ = n_classes

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = self.booster_.predict(np.asarray(X, float))
        if p.ndim == 1:  # binary: probability of class 1
            p = np.column_stack([1 - p, p])
        return p

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "classifier":
            return self.predict_proba(X).argmax(axis=1)
        # regression (reconstruction) predicts few rows: one thread, OpenMP start-up costs more
        return self.booster_.predict(np.asarray(X, float), num_threads=1)


class LightGBMBackend(EstimatorBackend):
    """``lightgbm.LGBMClassifier`` / ``LGBMRegressor``; TreeSHAP in margin space."""

    name = "lightgbm"
    tree_explainer = True
    output_space = "margin"
    weighs_classes = True  # LGBMClassifier(class_weight=...)
    multi_output = False
    reconstruction_params = {"colsample_bytree": 1.0, "n_jobs": 1}
    defaults = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 5,
                "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.5, "n_jobs": 2,
                "verbose": -1}
    #: Over ``defaults`` for the classifiers only (the regressors keep ``defaults``): extremely
    #: randomized split thresholds, twice the trees. Chosen with the shape features
    #: (``training.SHAPE_COMPONENTS``): docs/validation/hyperparameters.md
    classifier_defaults = {"extra_trees": True, "n_estimators": 600}

    def versions(self) -> dict[str, str]:
        return {"lightgbm": importlib.metadata.version("lightgbm")}

    def classifier(self, random_state: int = 0, class_weight: str | None = "balanced", **params: object):
        import lightgbm as lgb

        return lgb.LGBMClassifier(**{**self.defaults, **self.classifier_defaults, **params}, class_weight=class_weight,
                                  random_state=random_state)

    def regressor(self, random_state: int = 0, **params: object):
        import lightgbm as lgb

        return lgb.LGBMRegressor(**{**self.defaults, **params}, random_state=random_state)

    def explained_model(self, estimator):
        """The booster (of a fitted LGBMClassifier or of a model read back from text)."""
        return estimator.booster_

    def raw_output(self, estimator, X: np.ndarray) -> np.ndarray:
        """Margins (raw scores), (n,) for two classes, else (n, n_classes)."""
        return estimator.booster_.predict(np.asarray(X, float), raw_score=True)

    def dumps(self, estimator) -> bytes:
        kind = "classifier" if hasattr(estimator, "predict_proba") else "regressor"
        n_classes = int(getattr(estimator, "n_classes_", 0) or 0)
        header = json.dumps({"kind": kind, "n_classes": n_classes}).encode()
        return header + b"\n" + estimator.booster_.model_to_string().encode()

    def loads(self, data: bytes):
        import lightgbm as lgb

        try:
            header, text = data.split(b"\n", 1)
            meta = json.loads(header)
            booster = lgb.Booster(model_str=text.decode())
            return LoadedBooster(booster, meta["kind"], meta["n_classes"])
        except Exception as exc:
            raise ModelFileError(f"LightGBM model does not load: {exc}") from None


@hookimpl
def larch_motif_model_backends() -> list:
    return [LightGBMBackend()]
