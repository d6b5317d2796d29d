"""XGBoost as a model backend plugin; models are saved in XGBoost's own JSON format."""

from __future__ import annotations

import importlib.metadata
import json

import numpy as np

from larch_motif.errors import ModelFileError
from larch_motif.hookspecs import hookimpl
from larch_motif.plugins._estimator import EstimatorBackend


class XGBoostBackend(EstimatorBackend):
    """``xgboost.XGBClassifier`` / ``XGBRegressor`` (hist trees); TreeSHAP in margin space."""

    name = "xgboost"
    tree_explainer = True
    output_space = "margin"
    weighs_classes = False  # no class_weight: the core passes class-balanced sample weights
    multi_output = False
    reconstruction_params = {"colsample_bytree": 1.0, "n_jobs": 1}
    defaults = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.08, "subsample": 0.8,
                "colsample_bytree": 0.5, "tree_method": "hist", "n_jobs": 2}

    def versions(self) -> dict[str, str]:
        return {"xgboost": importlib.metadata.version("xgboost")}

    def classifier(self, random_state: int = 0, class_weight: str | None = "balanced", **params: object):
        import xgboost as xgb

        # class weights are given as sample weights by the caller (XGBoost has no class_weight)
        return xgb.XGBClassifier(**{**self.defaults, **params}, random_state=random_state)

    def regressor(self, random_state: int = 0, **params: object):
        import xgboost as xgb

        return xgb.XGBRegressor(**{**self.defaults, **params}, random_state=random_state)

    def raw_output(self, estimator, X: np.ndarray) -> np.ndarray:
        """Margins (log-odds), (n,) for two classes, else (n, n_classes)."""
        return estimator.predict(X, output_margin=True)

    def dumps(self, estimator) -> bytes:
        kind = "classifier" if hasattr(estimator, "predict_proba") else "regressor"
        raw = bytes(estimator.get_booster().save_raw(raw_format="json"))
        return json.dumps({"kind": kind}).encode() + b"\n" + raw

    def loads(self, data: bytes):
        import xgboost as xgb

        try:
            header, raw = data.split(b"\n", 1)
            kind = json.loads(header)["kind"]
            estimator = xgb.XGBClassifier() if kind == "classifier" else xgb.XGBRegressor()
            estimator.load_model(bytearray(raw))
            return estimator
        except Exception as exc:
            raise ModelFileError(f"XGBoost model does not load: {exc}") from None


@hookimpl
def larch_motif_model_backends() -> list:
    return [XGBoostBackend()]
