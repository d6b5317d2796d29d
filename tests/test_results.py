"""Typed results: Prediction and Answer, their JSON form, and reading a result as a mapping."""

from __future__ import annotations

import json

import pytest
from conftest import write_measured_like

from larch_motif.findings import Finding
from larch_motif.prediction import predict, predict_iter
from larch_motif.results import Answer, Prediction
from larch_motif.summary import summary_text


def test_prediction_fields_and_json_form_agree(tmp_path, fe_sites, fe_cn_model):
    model_path, _, _ = fe_cn_model
    f = tmp_path / "spectrum.dat"
    write_measured_like(f, next(s for s in fe_sites if s["cn"] == 4))
    (res,) = predict(f, model=model_path, target="cn")
    assert isinstance(res, Prediction)
    a = res.answer("cn")
    assert a.value == res.cn == res["cn"] == "4"
    assert a.probabilities == res["cn_probabilities"] and a.confidence == res["cn_confidence"]
    assert a.probability == max(a.probabilities.values())
    d = json.loads(json.dumps(res.to_dict()))
    assert {"file", "element", "edge", "e0", "e0_half", "grid_eV", "cn", "cn_probabilities", "cn_confidence",
            "in_domain", "warnings", "findings", "domain_distance", "preedge"} <= set(d)
    again = Prediction.from_dict(d)
    assert again.to_dict() == d and again == res
    assert summary_text(again) == summary_text(res) == summary_text(d)


def test_metallic_answer_has_no_cn_and_the_motif_metallic():
    res = Prediction(element="Zn", edge="K", e0=9659.0, e0_half=9661.0, grid_eV=[-8.0, 100.0],
                     answers={"cn": Answer("cn", "4", {"4": 0.9, "6": 0.1}, 0.95)}, metallic=True,
                     metallic_probability=0.97, metallic_confidence=0.96)
    d = res.to_dict()
    assert d["cn"] is None and d["motif"] == "metallic" and d["cn_site_average"] is None
    assert "cn_probabilities" not in d and res.cn == "4" and res.motif == "metallic"
    assert Prediction.from_dict(d).answer("cn") is None


def test_findings_keep_their_code_through_the_json_form():
    finding = Finding("preedge_strong", "pre-edge peak 0.2 of the edge step")
    res = Prediction(element="Fe", answers={"cn": Answer("cn", "6", {"6": 1.0}, 0.5)}, findings=[finding])
    d = json.loads(json.dumps(res.to_dict()))
    assert d["warnings"] == [str(finding)] and d["findings"][0]["code"] == "preedge_strong"
    assert Prediction.from_dict(d).findings[0].code == "preedge_strong"
    assert res.in_domain  # a doubt about the answer does not put the spectrum out of the domain


def test_a_failed_spectrum_is_a_prediction_with_an_error(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("not a spectrum\n")
    (res,) = list(predict_iter([bad], element="Fe", errors="flag"))
    assert res.error and not res.in_domain and "error" in res
    assert res.to_dict()["findings"][0]["code"] == "error"
    assert "not predicted" in summary_text(res)


def test_explanation_is_typed_and_its_json_form_is_the_documented_one(tmp_path, fe_sites, fe_cn_model):
    from larch_motif.explain import explain_model, explain_spectrum
    from larch_motif.results import Explanation, ModelExplanation

    model_path, model, _ = fe_cn_model
    f = tmp_path / "spectrum.dat"
    write_measured_like(f, next(s for s in fe_sites if s["cn"] == 6))
    expl = explain_spectrum(f, model_path)
    assert isinstance(expl, Explanation) and expl["class"] == expl.class_name
    d = json.loads(json.dumps(expl.to_dict()))
    assert d["expected_value"] + sum(d["shap_values"]) == pytest.approx(d["model_output"], abs=1e-4)
    assert d["in_domain"] is expl.in_domain and d["warnings"] == expl.warnings
    glob = explain_model(model, max_samples=50)
    assert isinstance(glob, ModelExplanation) and glob.shap_array.shape[0] == 50
    assert not any(k.startswith("_") for k in glob.to_dict()) and json.dumps(glob.to_dict())
