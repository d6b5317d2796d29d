"""Classifier estimator contract, grouped CV, model files that are safe to open."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, cross_validate

from larch_motif.errors import LarchMotifError, ModelFileError
from larch_motif.models import MotifClassifier, available_backends, load_model
from larch_motif.spectra import Preprocessing
from larch_motif.training import training_set


@pytest.fixture(scope="module")
def cn_set(fe_sites):
    return training_set(fe_sites, "cn", Preprocessing(), augmentation=None)


def test_builtin_backends_come_from_the_hook_layer():
    assert {"rf", "xgboost", "lightgbm"} <= set(available_backends())


@pytest.mark.parametrize("backend", ["rf", "xgboost", "lightgbm"])
def test_classifier_works_with_sklearn_grouped_cross_validation(cn_set, backend):
    clf = MotifClassifier(backend, {"n_estimators": 40})
    scores = cross_validate(clf, cn_set.X, cn_set.y, groups=cn_set.groups, cv=GroupKFold(3))
    # CN 4 and CN 6 are distinguishable in theory: well above the majority-class rate
    majority = max(np.mean(cn_set.y == c) for c in np.unique(cn_set.y))
    assert scores["test_score"].mean() > majority


@pytest.mark.parametrize("backend", ["rf", "xgboost", "lightgbm"])
def test_saved_model_predicts_the_same_after_loading(tmp_path, fe_sites, backend):
    from larch_motif.training import train

    model, _ = train("Fe", "cn", backend, cv=None, augmentation=None, out=tmp_path / "m.lmm",
                     backend_params={"n_estimators": 30})
    loaded = load_model(tmp_path / "m.lmm")
    X = model.training_features[:20]
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-6)
    assert loaded.classes == model.classes
    meta = loaded.metadata
    assert meta["backend"] == backend and meta["database_sha256"]
    assert len(meta["energy_grid_eV"]) == X.shape[1]
    assert meta["library_versions"]


def test_classifier_rejects_wrong_number_of_features(cn_set):
    clf = MotifClassifier("rf", {"n_estimators": 10}).fit(cn_set.X, cn_set.y)
    with pytest.raises(LarchMotifError, match="features"):
        clf.predict(cn_set.X[:, :10])


def test_unknown_backend_is_named(cn_set):
    with pytest.raises(LarchMotifError, match="unknown backend 'nope'"):
        MotifClassifier("nope").fit(cn_set.X, cn_set.y)


def test_tampered_model_file_is_refused(tmp_path, fe_cn_model):
    path, _, _ = fe_cn_model
    tampered = tmp_path / "tampered.lmm"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tampered, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "training_features.npy":
                data = data[:-8] + b"\x00" * 8
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match="checksum mismatch"):
        load_model(tampered)


def test_model_file_of_other_format_version_is_refused_with_version_named(tmp_path, fe_cn_model):
    path, _, _ = fe_cn_model
    other = tmp_path / "other.lmm"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(other, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "metadata.json":
                meta = json.loads(data)
                meta["format_version"] = 99
                meta["larch_motif_version"] = "9.9"
                data = json.dumps(meta).encode()
            dst.writestr(item, data)
    with pytest.raises(ModelFileError, match="version 99 written by larch_motif 9.9"):
        load_model(other)


def test_pickle_in_model_file_is_never_executed(tmp_path, fe_cn_model):
    """A model file whose estimator is a malicious pickle must be refused without running it."""
    import pickle

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    path, _, _ = fe_cn_model
    evil = tmp_path / "evil.lmm"
    payload = pickle.dumps(Exploit())
    import hashlib
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        meta = json.loads(src.read("metadata.json"))
        meta["sha256"]["estimator.bin"] = hashlib.sha256(payload).hexdigest()
        dst.writestr("metadata.json", json.dumps(meta))
        dst.writestr("estimator.bin", payload)
        dst.writestr("training_features.npy", src.read("training_features.npy"))
    with pytest.raises(ModelFileError):
        load_model(evil)
    assert not marker.exists()


def test_random_bytes_are_not_a_model(tmp_path):
    junk = tmp_path / "junk.lmm"
    junk.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(ModelFileError, match="not a larch_motif model"):
        load_model(junk)


def test_site_averaged_cn_regressor_learns_compound_spectra_and_round_trips(tmp_path):
    from larch_motif.training import Augmentation, train_cn_mean

    path = tmp_path / "cn_mean.lmm"
    model, report = train_cn_mean("Fe", "xgboost", cv=3, out=path, augmentation=Augmentation(copies=1),
                                  backend_params={"n_estimators": 60})
    assert report["n_spectra"] > 100 and report["n_mixed"] > 0
    # far better than the spread of the site-averaged CN itself (about 0.8 around the mean)
    assert report["mae"] < 0.6
    loaded = load_model(path)
    assert loaded.target == "cn_mean" and loaded.classes == []
    X = model.training_features[:10]
    assert np.allclose(loaded.predict(X), model.predict(X), atol=1e-5)
    assert np.all((loaded.predict(X) > 1) & (loaded.predict(X) < 14))


def test_shape_features_are_fitted_saved_and_carried_back_onto_the_grid(tmp_path, cn_set):
    """The whole-spectrum shape scores: appended for the backend, stored in the model file, and
    their attributions split over the energies so that every row still adds up."""
    from larch_motif.models import MotifModel

    X, y = cn_set.X, cn_set.y
    clf = MotifClassifier("lightgbm", {"n_estimators": 20}, shape_components=5).fit(X, y)
    assert clf.expand(X).shape == (len(X), X.shape[1] + 5)
    # the scores are projections on orthonormal components of the centred training spectra
    np.testing.assert_allclose(clf.shape_basis_ @ clf.shape_basis_.T, np.eye(5), atol=1e-8)
    np.testing.assert_allclose(clf.expand(X)[:, X.shape[1]:].mean(axis=0), 0, atol=1e-8)
    values = np.random.default_rng(0).normal(size=(7, X.shape[1] + 5, 3))
    folded = clf.fold_shape(values, X[:7])
    assert folded.shape == (7, X.shape[1], 3)
    np.testing.assert_allclose(folded.sum(axis=1), values.sum(axis=1), atol=1e-8)
    # no energy takes more than the shape scores' own values (a split by signed terms blew up)
    moved = np.abs(folded - values[:, : X.shape[1]]).max(axis=1)
    assert np.all(moved <= np.abs(values[:, X.shape[1]:]).sum(axis=1) + 1e-9)
    spectrum_at_mean = clf.fold_shape(values[:1], clf.shape_mean_[None])
    np.testing.assert_allclose(spectrum_at_mean.sum(axis=1), values[:1].sum(axis=1), atol=1e-8)
    importance = np.abs(values[0, :, 0])
    assert clf.fold_importance(importance).sum() == pytest.approx(importance.sum())
    model = MotifModel(clf, "Fe", "K", "cn", Preprocessing(), X[:50])
    loaded = load_model(model.save(tmp_path / "shape.lmm"))
    assert loaded.metadata["shape_components"] == 5
    with zipfile.ZipFile(tmp_path / "shape.lmm") as src, zipfile.ZipFile(tmp_path / "cut.lmm", "w") as dst:
        for item in src.infolist():
            if item.filename != "shape.npy":
                dst.writestr(item, src.read(item))
    with pytest.raises(ModelFileError, match="shape features are missing"):
        load_model(tmp_path / "cut.lmm")
    np.testing.assert_allclose(loaded.predict_proba(X[:30]), clf.predict_proba(X[:30]), atol=1e-6)
    plain = MotifModel(MotifClassifier("rf", {"n_estimators": 10}).fit(X, y), "Fe", "K", "cn", Preprocessing(), X[:5])
    assert load_model(plain.save(tmp_path / "plain.lmm")).classifier.shape_basis_ is None
    with pytest.raises(LarchMotifError, match="shape components"):
        MotifClassifier("rf", shape_components=50).fit(X[:30], y[:30])


def test_site_averaged_cn_regressor_weighs_the_mixed_compounds_as_asked():
    """``mixed_weight`` weighs the compounds of mixed CN (magnetite-like) in training: a weight
    changes the fitted regressor and is recorded, a weight that is not positive is refused."""
    from larch_motif.database import open_database
    from larch_motif.errors import LarchMotifError
    from larch_motif.training import Augmentation, mixed_cn, select_compounds, train_cn_mean

    kw = {"cv": None, "augmentation": Augmentation(copies=1), "backend_params": {"n_estimators": 60}}
    plain, _ = train_cn_mean("Fe", "xgboost", **kw)
    weighted, report = train_cn_mean("Fe", "xgboost", mixed_weight=5.0, **kw)
    assert report["mixed_weight"] == 5.0 and weighted.metadata["training"]["mixed_weight"] == 5.0
    with open_database(None) as store:
        compounds = select_compounds(store.compound_spectra("Fe", "K"), store.site_spectra("Fe", "K"))
    truth = np.array([c["cn_mean"] for c in compounds])  # the training spectra, in order
    X = plain.training_features
    assert len(X) == len(truth) and mixed_cn(truth).sum() > 10
    error = {name: np.abs(m.predict(X) - truth) for name, m in (("plain", plain), ("weighted", weighted))}
    # the weighted fit follows its mixed compounds more closely
    assert error["weighted"][mixed_cn(truth)].mean() < error["plain"][mixed_cn(truth)].mean()
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(LarchMotifError, match="weight of mixed compounds must be positive and finite"):
            train_cn_mean("Fe", "xgboost", mixed_weight=bad, **kw)


@pytest.mark.parametrize("weights", [[1.0, -1.0, 1.0], [1.0, float("nan"), 1.0], [0.0, 0.0, 0.0], [1.0, 1.0]])
def test_training_weights_must_be_finite_non_negative_and_one_per_spectrum(weights):
    from larch_motif.errors import LarchMotifError
    from larch_motif.models import SiteAverageRegressor

    X, y = np.arange(9.0).reshape(3, 3), np.array([4.0, 5.0, 6.0])
    for estimator in (SiteAverageRegressor("rf", {"n_estimators": 5}), MotifClassifier("rf", {"n_estimators": 5})):
        with pytest.raises(LarchMotifError, match="finite, non-negative weight per spectrum"):
            estimator.fit(X, y.astype(int).astype(str) if isinstance(estimator, MotifClassifier) else y,
                          sample_weight=np.array(weights))
