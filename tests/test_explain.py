"""TreeSHAP explanations: additivity in each backend's output space, determinism, CLI shape."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.errors import LarchMotifError
from larch_motif.explain import explain_spectrum
from larch_motif.models import load_model
from larch_motif.training import train


@pytest.fixture(scope="module")
def spectrum_file(tmp_path_factory, fe_sites):
    path = tmp_path_factory.mktemp("spectra") / "fe_t4.dat"
    write_measured_like(path, next(s for s in fe_sites if s["motif"] == "T:4"))
    return path


@pytest.mark.parametrize("backend, space", [("rf", "probability"), ("xgboost", "margin"), ("lightgbm", "margin")])
def test_shap_values_add_up_to_the_models_own_output(tmp_path, spectrum_file, backend, space):
    _, _ = train("Fe", "cn", backend, cv=None, augmentation=None, out=tmp_path / "m.lmm",
                 backend_params={"n_estimators": 30})
    model = load_model(tmp_path / "m.lmm")  # after a save/load round trip (LightGBM: text model)
    expl = explain_spectrum(spectrum_file, model)
    assert expl["output_space"] == space
    assert abs(expl["expected_value"] + sum(expl["shap_values"]) - expl["model_output"]) < 1e-4
    from larch_motif.prediction import predict

    (res,) = predict(spectrum_file, model=model, target="cn")
    assert expl["class"] == res["cn"]
    if space == "probability":
        assert expl["model_output"] == pytest.approx(res["cn_probabilities"][expl["class"]], abs=1e-4)
    else:
        # margins: the softmax of the raw outputs gives back the predicted probabilities
        from larch_motif.explain import raw_output
        from larch_motif.spectra import features, normalize, read_spectrum

        grp = read_spectrum(spectrum_file)
        grp.motif_warnings = []
        normalize(grp)
        margin = raw_output(model, features(grp, model.preprocessing)[None])[0]
        p = np.exp(margin - margin.max()) / np.exp(margin - margin.max()).sum()
        assert margin[model.classes.index(expl["class"])] == pytest.approx(expl["model_output"], abs=1e-6)
        assert p[model.classes.index(expl["class"])] == pytest.approx(res["cn_probabilities"][expl["class"]], abs=1e-3)
    assert len(expl["energy"]) == len(expl["shap_values"])
    assert sum(expl["regions"].values()) == pytest.approx(sum(expl["shap_values"]), abs=1e-6)
    # what the plot shows: 5-eV windows in energy order, in class probability, adding up to the
    # change from the mean probability of the class to this spectrum's
    windows = expl["windows"]
    assert [w["start_eV"] for w in windows] == sorted(w["start_eV"] for w in windows)
    assert windows[0]["start_eV"] == min(expl["energy"]) and windows[-1]["end_eV"] > max(expl["energy"])
    assert sum(w["shap"] for w in windows) == pytest.approx(sum(expl["shap_values"]), abs=1e-6)
    change = expl["class_probability"] - expl["expected_probability"]
    assert sum(w["probability"] for w in windows) == pytest.approx(change, abs=1e-6)
    assert sum(expl["regions_probability"].values()) == pytest.approx(change, abs=1e-6)
    assert expl["class_probability"] == pytest.approx(res["cn_probabilities"][expl["class"]], abs=1e-3)
    assert 0 <= expl["expected_probability"] <= 1


def test_explanations_are_deterministic_and_unknown_classes_refused(spectrum_file, fe_cn_model):
    path, _, _ = fe_cn_model
    first, second = explain_spectrum(spectrum_file, path), explain_spectrum(spectrum_file, path)
    assert first["shap_values"] == second["shap_values"]
    with pytest.raises(LarchMotifError, match="class '99' unknown"):
        explain_spectrum(spectrum_file, path, target_class="99")


def test_cli_explain_json_shape_and_plot(tmp_path, spectrum_file, fe_cn_model):
    path, _, _ = fe_cn_model
    png = tmp_path / "shap.png"
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "explain", str(spectrum_file), "--model", str(path),
                        "--class", "4", "--plot", str(png), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (expl,) = json.loads(r.stdout)
    for key in ("file", "group", "target", "class", "energy", "shap_values", "expected_value", "model_output",
                "output_space", "regions", "top_windows", "in_domain", "warnings"):
        assert key in expl
    assert expl["class"] == "4" and png.stat().st_size > 10_000


def test_cli_explain_finds_each_file_s_element_from_e0_as_predict_does(tmp_path, fe_sites):
    """Without --model or --element, each file is explained by the default model of the element
    its E0 gives (here Fe and Zn in one call), and the JSON names it."""
    from larch_motif.database import open_database

    with open_database(None) as db:
        zn = next(s for s in db.site_spectra("Zn") if s["motif"] == "T:4")
    for name, site in (("fe.dat", fe_sites[0]), ("zn.dat", zn)):
        write_measured_like(tmp_path / name, site)
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "explain", str(tmp_path / "fe.dat"),
                        str(tmp_path / "zn.dat"), "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert [(e["element"], e["edge"], e["target"]) for e in json.loads(r.stdout)] == [("Fe", "K", "cn"), ("Zn", "K", "cn")]


def test_herfd_explanation_explains_what_predict_herfd_answers(tmp_path, fe_sites, fe_cn_model):
    """A HERFD-like file explained with ``--herfd`` (CLI) explains the class and probability that
    ``predict(..., herfd=True)`` gives, on the broadened spectrum, with the finding."""
    from larch_motif.prediction import predict
    from larch_motif.spectra import Preprocessing, herfd_lorentzian_eV

    path, _, _ = fe_cn_model
    herfd = tmp_path / "herfd.dat"
    write_measured_like(herfd, next(s for s in fe_sites if s["motif"] == "T:4"),
                        lorentzian_fwhm_eV=Preprocessing().lorentzian_fwhm_eV - herfd_lorentzian_eV("Fe"))
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "explain", str(herfd), "--model", str(path),
                        "--herfd", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (expl,) = json.loads(r.stdout)
    (res,) = predict(herfd, model=path, target="cn", herfd=True)
    assert expl["class"] == res["cn"]
    assert expl["class_probability"] == pytest.approx(res["cn_probabilities"][res["cn"]], abs=0.02)
    assert "herfd_broadened" in [f["code"] for f in expl["findings"]]
    plain = explain_spectrum(herfd, path, expl["class"], herfd=False)  # its file name says HERFD
    assert "herfd_broadened" not in [f.code for f in plain.findings]
    assert not np.allclose(plain["shap_values"], expl["shap_values"])


def test_global_explanation_covers_every_class_and_is_consistent(tmp_path, fe_cn_model):
    from larch_motif.explain import explain_model, plot_model_explanation

    _, model, _ = fe_cn_model
    expl = explain_model(model, max_samples=200)
    assert set(expl["classes"]) == set(model.classes) and expl["n_spectra"] == 200
    for d in expl["classes"].values():
        assert len(d["mean_abs_shap"]) == len(expl["energy"])
        assert sum(d["region_share"].values()) == pytest.approx(1.0)
    # the model's features that matter by TreeSHAP and by impurity overlap in their top ten
    shap_total = np.sum([d["mean_abs_shap"] for d in expl["classes"].values()], axis=0)
    top_shap = set(np.argsort(shap_total)[-10:])
    top_impurity = set(np.argsort(expl["impurity_importance"])[-10:])
    assert len(top_shap & top_impurity) >= 3
    plot_model_explanation(expl, tmp_path / "global.png")
    assert (tmp_path / "global.png").stat().st_size > 10_000


def test_a_backend_without_tree_support_is_refused_with_its_name(spectrum_file, fe_cn_model):
    import copy

    from larch_motif.models import load_model as load

    path, _, _ = fe_cn_model
    model = load(path)
    backend = copy.copy(model.classifier.backend_)
    backend.name, backend.tree_explainer = "knn-plugin", False
    model.classifier.backend_ = backend
    with pytest.raises(LarchMotifError, match="backend 'knn-plugin' declares no TreeSHAP support"):
        explain_spectrum(spectrum_file, model)


def test_out_of_domain_spectrum_is_explained_but_flagged(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    site = dict(next(s for s in fe_sites if s["cn"] == 6))
    site["energy_eV"] = site["energy_eV"] + 2547.0  # at the Zn K edge
    f = tmp_path / "zn.dat"
    write_measured_like(f, site)
    expl = explain_spectrum(f, path)
    assert expl["in_domain"] is False and any("another element" in w for w in expl["warnings"])
    assert abs(expl["expected_value"] + sum(expl["shap_values"]) - expl["model_output"]) < 1e-4
