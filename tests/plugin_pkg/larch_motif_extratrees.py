"""A third-party model backend: scikit-learn ExtraTrees, added only through the entry point."""

import importlib.metadata

from larch_motif.hookspecs import hookimpl

TRUSTED = ["sklearn.ensemble._forest.ExtraTreesClassifier", "sklearn.ensemble._forest.ExtraTreesRegressor",
           "sklearn.tree._classes.ExtraTreeClassifier", "sklearn.tree._classes.ExtraTreeRegressor",
           "sklearn.tree._tree.Tree", "numpy.dtype", "numpy.ndarray", "builtins.slice"]


class ExtraTreesBackend:
    name = "extratrees"
    tree_explainer = True
    output_space = "probability"
    weighs_classes = True  # ExtraTreesClassifier(class_weight=...)
    multi_output = True
    reconstruction_params = {}

    def versions(self):
        return {"scikit-learn": importlib.metadata.version("scikit-learn")}

    def classifier(self, random_state=0, class_weight="balanced", **params):
        from sklearn.ensemble import ExtraTreesClassifier

        return ExtraTreesClassifier(n_estimators=params.pop("n_estimators", 100), class_weight=class_weight,
                                    random_state=random_state, **params)

    def regressor(self, random_state=0, **params):
        from sklearn.ensemble import ExtraTreesRegressor

        return ExtraTreesRegressor(random_state=random_state, **params)

    def predict_proba(self, estimator, X):
        return estimator.predict_proba(X)

    def predict(self, estimator, X):
        return estimator.predict(X)

    def explained_model(self, estimator):
        return estimator

    def raw_output(self, estimator, X):
        return estimator.predict_proba(X)

    def dumps(self, estimator):
        import skops.io as sio

        return sio.dumps(estimator)

    def loads(self, data):
        import skops.io as sio

        return sio.loads(data, trusted=TRUSTED)


@hookimpl
def larch_motif_model_backends():
    return [ExtraTreesBackend()]
