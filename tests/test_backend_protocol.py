"""The backend protocol: the core reads what a backend declares and never its name.

Two backends are registered in-process through the hook layer, as a third-party plugin would
be: one with margin (log-odds) output, one that applies class weights itself. Each must be
treated as it declares: TreeSHAP adds up in its own output space, and class weights are applied
once, by the backend or by the core, never twice.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.explain import explain_spectrum, raw_output
from larch_motif.hookspecs import hookimpl
from larch_motif.models import MotifClassifier, backend_trait
from larch_motif.plugins import pm
from larch_motif.training import train


class RecordingTree:
    """A decision tree that keeps the sample weights it was fitted with."""

    def __init__(self, **params):
        from sklearn.tree import DecisionTreeClassifier

        self.tree = DecisionTreeClassifier(**params)

    def fit(self, X, y, sample_weight=None):
        self.sample_weight = sample_weight
        self.tree.fit(X, y, sample_weight=sample_weight)
        return self

    def predict_proba(self, X):
        return self.tree.predict_proba(X)


class WeighingBackend:
    """Applies class weights inside its estimator (``class_weight`` given to the tree)."""

    name = "test-weighing"
    tree_explainer = False
    output_space = "probability"
    weighs_classes = True
    multi_output = False
    reconstruction_params: dict = {}

    def versions(self):
        return {}

    def classifier(self, random_state=0, class_weight="balanced", **params):
        return RecordingTree(class_weight=class_weight, random_state=random_state, max_depth=3)

    def regressor(self, random_state=0, **params):
        raise NotImplementedError

    def predict_proba(self, estimator, X):
        return estimator.predict_proba(X)

    def predict(self, estimator, X):
        return estimator.predict_proba(X).argmax(axis=1)

    def dumps(self, estimator):
        raise NotImplementedError

    def loads(self, data):
        raise NotImplementedError

    def explained_model(self, estimator):
        return estimator.tree

    def raw_output(self, estimator, X):
        return estimator.predict_proba(X)


class LeavingBackend(WeighingBackend):
    """Leaves class weights to the core (as XGBoost does): sample weights must come balanced."""

    name = "test-leaving"
    weighs_classes = False

    def classifier(self, random_state=0, class_weight="balanced", **params):
        return RecordingTree(random_state=random_state, max_depth=3)


class MarginBackend(WeighingBackend):
    """scikit-learn gradient boosting: TreeSHAP in log-odds, margins from decision_function."""

    name = "test-margin"
    tree_explainer = True
    output_space = "margin"
    weighs_classes = False

    def classifier(self, random_state=0, class_weight="balanced", **params):
        from sklearn.ensemble import GradientBoostingClassifier

        return GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=random_state)

    def predict(self, estimator, X):
        return estimator.predict(X)

    def explained_model(self, estimator):
        return estimator

    def raw_output(self, estimator, X):
        return estimator.decision_function(X)


class TestPlugin:
    @hookimpl
    def larch_motif_model_backends(self):
        return [WeighingBackend(), LeavingBackend(), MarginBackend()]


@pytest.fixture(scope="module", autouse=True)
def registered():
    plugin = TestPlugin()
    pm.register(plugin, name="test-backends")
    yield
    pm.unregister(plugin)


def _unbalanced():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = np.array(["6"] * 30 + ["4"] * 10)
    X[y == "4"] += 1.5
    return X, y


@pytest.mark.parametrize("backend, balanced_by_core", [("test-weighing", False), ("test-leaving", True)])
def test_class_weights_are_applied_once_by_whoever_declares_them(backend, balanced_by_core):
    X, y = _unbalanced()
    clf = MotifClassifier(backend, class_weight="balanced").fit(X, y)
    weights = np.asarray(clf.estimator_.sample_weight)
    if balanced_by_core:  # each class weighs as much in total
        assert weights[y == "6"].sum() == pytest.approx(weights[y == "4"].sum())
    else:  # the backend's estimator weighs; the core passes plain weights
        assert np.all(weights == 1.0)
    assert backend_trait(clf.backend_, "weighs_classes") is not balanced_by_core


def test_a_margin_backend_is_explained_in_its_own_log_odds(tmp_path, fe_sites):
    from larch_motif.spectra import features, normalize, read_spectrum

    spectrum = tmp_path / "fe_t4.dat"
    write_measured_like(spectrum, next(s for s in fe_sites if s["ligands"] == "O" and s["cn"] == 4))
    # two classes (metallic or not): shap explains scikit-learn gradient boosting for two only
    model, _ = train("Fe", "metallic", "test-margin", cv=None, augmentation=None)
    expl = explain_spectrum(spectrum, model)
    assert expl["output_space"] == "margin"
    assert expl["expected_value"] + sum(expl["shap_values"]) == pytest.approx(expl["model_output"], abs=1e-4)
    grp = read_spectrum(spectrum)
    grp.motif_warnings = []
    normalize(grp)
    x = features(grp, model.preprocessing)[None]
    margins = raw_output(model, x)[0]  # the backend's decision_function: -m for class 0, m for class 1
    assert margins[model.classes.index(expl["class"])] == pytest.approx(expl["model_output"], abs=1e-6)
    assert expl["class_probability"] == pytest.approx(
        model.predict_proba(x)[0][model.classes.index(expl["class"])], abs=1e-9)


def test_the_core_names_no_backend():
    """No branch of the core on a backend's name: only defaults and help texts name them."""
    import re
    from pathlib import Path

    core = Path(__file__).resolve().parents[1] / "larch_motif"
    branch = re.compile(r"(\.name\s*(==|!=|in|not in)\s*[\"'(])|(==\s*[\"'](rf|xgboost|lightgbm)[\"'])")
    hits = [f"{p.name}:{n}" for p in core.glob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if branch.search(line)]
    assert hits == []
