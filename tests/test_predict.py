"""Prediction on measured-like spectra: probabilities, domain check, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.errors import LarchMotifError, SpectrumError
from larch_motif.findings import code_of
from larch_motif.models import load_model, temper
from larch_motif.prediction import (
    DISAGREEMENT_CONFIDENCE,
    SITE_AVERAGE_DISAGREEMENT_CONFIDENCE,
    check_agreement,
    check_range,
    check_site_average,
    predict,
)
from larch_motif.preedge import CONFIDENCE_CAP
from larch_motif.spectra import (
    Preprocessing,
    ends_short,
    feature_vector,
    features,
    herfd_broadened,
    herfd_lorentzian_eV,
    normalize,
    read_spectrum,
)


def _site(fe_sites, cn):
    return next(s for s in fe_sites if s["cn"] == cn)


@pytest.mark.parametrize("cn", [4, 6])
def test_measured_like_spectrum_of_a_training_site_gets_its_cn(tmp_path, fe_sites, fe_cn_model, cn):
    path, model, _ = fe_cn_model
    site = _site(fe_sites, cn)
    f = tmp_path / "spectrum.dat"
    write_measured_like(f, site)
    (res,) = predict(f, model=path, target="cn")
    assert res["cn"] == str(cn)
    assert set(res["cn_probabilities"]) == set(model.classes)
    assert abs(sum(res["cn_probabilities"].values()) - 1) < 1e-3
    assert res["element"] == "Fe" and res["edge"] == "K"


def test_batch_prediction_returns_one_result_per_spectrum(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    files = []
    for k, site in enumerate(fe_sites[:5]):
        f = tmp_path / f"s{k}.dat"
        write_measured_like(f, site, noise=0.002, seed=k)
        files.append(f)
    results = predict(files, model=path, target="cn")
    assert [r["file"] for r in results] == [str(f) for f in files]


def test_spectrum_of_another_element_is_flagged_out_of_domain(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    site = dict(_site(fe_sites, 6))
    site["energy_eV"] = site["energy_eV"] + 2547.0  # moved to the Zn K edge
    f = tmp_path / "zn.dat"
    write_measured_like(f, site)
    (res,) = predict(f, model=path, target="cn")
    assert res["in_domain"] is False
    assert any("another element" in w for w in res["warnings"])


def test_truncated_post_edge_is_flagged(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    site = dict(_site(fe_sites, 6))
    keep = site["energy_eV"] < site["energy_eV"][0] + 25
    site["energy_eV"], site["mu"] = site["energy_eV"][keep], site["mu"][keep]
    f = tmp_path / "short.dat"
    write_measured_like(f, site)
    (res,) = predict(f, model=path, target="cn")
    assert res["in_domain"] is False
    assert any("range too short" in w and "confidences of the answer are capped" in w for w in res["warnings"])
    assert res["cn_confidence"] <= CONFIDENCE_CAP


def test_only_a_spectrum_that_ends_short_has_its_confidences_capped():
    """A spectrum that ends before the grid's end is read as its end value past it (capped); one
    that only starts late (above E0 - 8 eV) is flagged, not capped."""
    prep = Preprocessing()
    assert ends_short(prep.grid_max_eV - 5, prep) and not ends_short(prep.grid_max_eV, prep)
    energy = np.arange(-4.0, prep.grid_max_eV + 10, 0.5)
    _, findings = feature_vector(energy, np.ones_like(energy), prep)
    assert [code_of(f) for f in findings] == ["range_too_short"] and "below its first point" in findings[0]
    res = {"cn_confidence": 0.97, "motif_confidence": 0.93, "warnings": []}
    check_range(res, short_end=False)
    assert res["cn_confidence"] == 0.97 and res["motif_confidence"] == 0.93
    check_range(res, short_end=True)
    assert res["cn_confidence"] == res["motif_confidence"] == CONFIDENCE_CAP


@pytest.mark.parametrize("content, message", [
    ("1 2\n3 4\n", "at least 20"),
    ("\n".join(f"{7000 + i} {i}" for i in range(30)) + "\n7010 5\n", "not increasing"),
    ("\n".join(f"{7000 + i // 2} {i}" for i in range(30)), "duplicated energies"),
    ("\n".join(f"{7000 + i} nan" for i in range(30)), "NaN"),
    ("\n".join(f"{7000 + i} 1.0" for i in range(30)), "constant"),
])
def test_bad_spectra_are_refused_with_the_problem_named(tmp_path, content, message):
    f = tmp_path / "bad.dat"
    f.write_text(content)
    with pytest.raises(SpectrumError, match=message):
        read_spectrum(f)


def test_binary_file_is_not_a_spectrum(tmp_path):
    f = tmp_path / "junk.dat"
    f.write_bytes(b"\x00\x01" * 500)
    with pytest.raises(SpectrumError, match="binary"):
        read_spectrum(f)


def test_normalized_input_is_not_renormalized(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    site = _site(fe_sites, 6)
    f = tmp_path / "norm.nor"
    e, m = site["energy_eV"], site["mu"]
    f.write_text("\n".join(f"{a:.4f} {b:.6f}" for a, b in zip(e, m)))
    grp = read_spectrum(f)
    assert grp.is_normalized
    (res,) = predict(f, model=path, target="cn")
    assert np.isfinite(res["e0_half"])


def test_calibrated_confidence_and_abstention(tmp_path, fe_sites):
    from larch_motif.training import Augmentation, train

    path = tmp_path / "cal.lmm"
    model, _ = train("Fe", "cn", "lightgbm", cv=3, out=path, augmentation=Augmentation(copies=1),
                     backend_params={"n_estimators": 40})
    cal = model.metadata["calibration"]
    assert cal["n"] > 300 and len(cal["p_max"]) == len(cal["accuracy"]) >= 2
    assert np.all(np.diff(cal["accuracy"]) >= 0)  # isotonic: more probable answers are not less right
    f = tmp_path / "spectrum.dat"
    write_measured_like(f, _site(fe_sites, 6))
    (sure,) = predict(f, model=path, target="cn")
    assert 0 <= sure["cn_confidence"] <= 1 and sure["cn"] != "uncertain"
    # the answer's probabilities are the model's, tempered by the T fitted on held-out minerals
    loaded = load_model(path)
    t = model.metadata["temperature"]
    assert loaded.temperature == t and 0.05 <= t <= 20 and t != 1.0
    grp = read_spectrum(f)
    grp.motif_warnings = []
    normalize(grp)
    x = features(grp, loaded.preprocessing)[None, :]
    want = dict(zip(loaded.classes, temper(loaded.predict_proba(x), t)[0]))
    assert sure["cn_probabilities"] == pytest.approx(want, abs=1e-4)
    assert max(want, key=want.get) == sure["cn"] == loaded.classes[int(loaded.predict_proba(x)[0].argmax())]
    (kept,) = predict(f, model=path, target="cn", min_confidence=sure["cn_confidence"])
    assert kept["cn"] == sure["cn"] and "cn_top2" not in kept
    (unsure,) = predict(f, model=path, target="cn", min_confidence=min(1.0, sure["cn_confidence"] + 1e-3))
    assert unsure["cn"] == "uncertain" or sure["cn_confidence"] == 1.0
    if unsure["cn"] == "uncertain":
        (first, p1), (_, p2) = unsure["cn_top2"]
        assert first == sure["cn"] and p1 >= p2
    with pytest.raises(Exception, match="min_confidence 1.5"):
        predict(f, model=path, target="cn", min_confidence=1.5)


def _raw_columns(path):
    e, m = np.loadtxt(path, unpack=True)
    return e, m


def test_glitch_and_self_absorption_are_named_in_the_warnings(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    clean = tmp_path / "clean.dat"
    write_measured_like(clean, _site(fe_sites, 6))
    (res,) = predict(clean, model=path, target="cn")
    assert not {f["code"] for f in res["findings"]} & {"glitch", "white_line_suppressed"}, res["findings"]

    e, m = _raw_columns(clean)
    k = int(np.searchsorted(e, e[0] + 100))  # in the pre-edge, 100 eV above the first point
    m_glitch = m.copy()
    m_glitch[k] += 0.4
    glitch = tmp_path / "glitch.dat"
    np.savetxt(glitch, np.column_stack([e, m_glitch]), header="energy mu")
    (res,) = predict(glitch, model=path, target="cn")
    assert any(w.startswith(f"glitch at {e[k]:.1f} eV") for w in res["warnings"]), res["warnings"]

    # thick, concentrated sample in fluorescence: mu_f ~ mu / (mu + mu_background) flattens the
    # white line (strong self-absorption: background absorption 2 % of the edge step)
    norm = (m - m.min()) / np.ptp(m)
    absorbed = tmp_path / "absorbed.dat"
    np.savetxt(absorbed, np.column_stack([e, norm / (norm + 0.02)]), header="energy mu")
    (res,) = predict(absorbed, model=path, target="cn")
    assert [f["code"] for f in res["findings"]] == ["white_line_suppressed"], res["findings"]
    assert "self-absorption" in res["warnings"][0] and "metals" in res["warnings"][0]


def test_two_wrong_held_out_answers_do_not_set_a_sure_models_confidence_to_zero():
    """A model right 100 times at p 0.99 and wrong twice at p 0.95: without pseudo-answers the
    isotonic map says 0 for every answer below 0.95; with them it stays between 0 and p, and the
    sure answers keep their confidence."""
    from larch_motif.training import fit_confidence_calibration

    p_max = np.r_[np.full(100, 0.99), 0.95, 0.95]
    correct = np.r_[np.ones(100, bool), False, False]

    def conf(cal: dict, p: float) -> float:
        return float(np.interp(p, cal["p_max"], cal["accuracy"]))

    bare = fit_confidence_calibration(p_max, correct, prior_weight=0)
    assert conf(bare, 0.92) == 0.0
    cal = fit_confidence_calibration(p_max, correct)
    assert 0.3 < conf(cal, 0.92) < 0.92 and conf(cal, 0.99) > 0.95
    assert cal["n"] == 102 and np.all(np.diff(cal["accuracy"]) >= 0)


def _answer(cn: str, motif: str, cn_confidence: float = 0.97, motif_confidence: float = 0.95) -> dict:
    return {"cn": cn, "motif": motif, "cn_confidence": cn_confidence, "motif_confidence": motif_confidence,
            "warnings": []}


def test_a_motif_that_names_another_cn_caps_both_confidences_and_says_so():
    res = _answer("2", "O:6")
    check_agreement(res)
    assert res["cn_confidence"] == res["motif_confidence"] == DISAGREEMENT_CONFIDENCE
    assert [code_of(w) for w in res["warnings"]] == ["cn_motif_disagree"]
    assert "says 2" in res["warnings"][0] and "O:6 (CN 6)" in res["warnings"][0]
    check_agreement(res)  # said once
    assert len(res["warnings"]) == 1
    low = _answer("4", "O:6", cn_confidence=0.3, motif_confidence=0.2)
    check_agreement(low)
    assert (low["cn_confidence"], low["motif_confidence"]) == (0.3, 0.2)  # a cap never raises


@pytest.mark.parametrize("cn, motif", [("6", "O:6"), ("4", "T:4"), ("4", "S:4"), ("6", "uncertain"),
                                        ("uncertain", "O:6"), ("6", None)])
def test_answers_that_agree_or_say_no_cn_are_left_as_they_are(cn, motif):
    res = _answer(cn, motif)
    check_agreement(res)
    assert (res["cn_confidence"], res["motif_confidence"], res["warnings"]) == (0.97, 0.95, [])


def test_a_site_average_half_a_cn_from_the_answer_caps_the_cn_confidence_and_says_so():
    res = {**_answer("4", "T:4"), "cn_site_average": 5.09}
    check_site_average(res)
    assert res["cn_confidence"] == SITE_AVERAGE_DISAGREEMENT_CONFIDENCE
    assert res["motif_confidence"] == 0.95  # the motif's rate under it was not measured
    assert [code_of(w) for w in res["warnings"]] == ["cn_site_average_disagree"]
    assert "5.09" in res["warnings"][0] and "answer is 4" in res["warnings"][0]
    check_site_average(res)  # said once
    assert len(res["warnings"]) == 1
    low = {**_answer("6", "O:6", cn_confidence=0.4), "cn_site_average": 5.2}
    check_site_average(low)
    assert low["cn_confidence"] == 0.4  # a cap never raises


@pytest.mark.parametrize("cn, average", [("6", 5.51), ("4", 4.49), ("4", None), ("uncertain", 5.0), (None, 5.0)])
def test_a_site_average_that_agrees_or_an_answer_without_a_cn_is_left_as_it_is(cn, average):
    res = {**_answer(cn, "O:6"), "cn_site_average": average}
    check_site_average(res)
    assert (res["cn_confidence"], res["warnings"]) == (0.97, [])


def test_herfd_spectrum_is_read_with_the_core_hole_width_it_lacks(tmp_path, fe_sites, fe_cn_model):
    """A HERFD-like file (the Lorentzian of the measured-like one less the part of the Fe K
    core-hole width that Kalpha1 HERFD takes away, 0.90 eV) is read with ``herfd=True`` as the
    transmission-like file is: its features come back to within 0.01 of those, from up to 10
    times that without, and the answer and its probabilities follow. A Group given keeps its
    mu, and a second call answers the same."""
    path, _, _ = fe_cn_model
    width = herfd_lorentzian_eV("Fe")
    assert 0.85 < width < 0.95
    site = _site(fe_sites, 4)
    transmission, herfd = tmp_path / "transmission.dat", tmp_path / "herfd.dat"
    write_measured_like(transmission, site)
    write_measured_like(herfd, site, lorentzian_fwhm_eV=Preprocessing().lorentzian_fwhm_eV - width)
    prep = load_model(path).preprocessing
    groups = []
    for f in (transmission, herfd):
        grp = read_spectrum(f)
        normalize(grp)
        groups.append(grp)
    mu = groups[1].mu.copy()
    rebroadened = herfd_broadened(groups[1], "Fe")
    reference, sharp = features(groups[0], prep), features(groups[1], prep)
    assert np.abs(features(rebroadened, prep) - reference).max() < 0.01 < np.abs(sharp - reference).max()
    assert [code_of(w) for w in rebroadened.motif_warnings].count("herfd_broadened") == 1
    assert np.array_equal(groups[1].mu, mu) and "herfd_broadened" not in map(code_of, groups[1].motif_warnings)
    with pytest.raises(SpectrumError, match="K edges"):
        herfd_lorentzian_eV("Fe", "L3")
    (plain,) = predict(transmission, model=path, target="cn")
    read_as_herfd = [predict(groups[1], model=path, target="cn", herfd=True)[0] for _ in range(2)]
    assert np.array_equal(groups[1].mu, mu)
    assert read_as_herfd[0].to_dict() == read_as_herfd[1].to_dict()
    assert [f.code for f in read_as_herfd[0].findings].count("herfd_broadened") == 1
    assert "herfd_broadened" not in [f.code for f in plain.findings]
    assert read_as_herfd[0]["cn"] == plain["cn"]
    for cls, p in plain["cn_probabilities"].items():
        assert read_as_herfd[0]["cn_probabilities"][cls] == pytest.approx(p, abs=0.05)
    with pytest.raises(LarchMotifError, match="K edges"):
        predict(herfd, model=path, target="cn", herfd=True, edge="L3")


def test_a_spectrum_that_says_it_is_herfd_is_read_so_unless_told_otherwise(tmp_path, fe_sites, fe_cn_model):
    """Without ``herfd``, a file whose name or header says HERFD is read as ``herfd=True`` reads
    it, and the finding says which told it; ``herfd=False`` (CLI ``--no-herfd``) reads it as it
    is, and a file that says nothing is read as it is."""
    import json
    import subprocess
    import sys

    path, _, _ = fe_cn_model
    site = _site(fe_sites, 4)
    sharp = Preprocessing().lorentzian_fwhm_eV - herfd_lorentzian_eV("Fe")
    named, headed, silent = tmp_path / "FeS_Ka1_HERFD_01.dat", tmp_path / "scan_07.dat", tmp_path / "scan_08.dat"
    for f in (named, headed, silent):
        write_measured_like(f, site, lorentzian_fwhm_eV=sharp)
    headed.write_text("# HERFD-XANES, Fe Kalpha1 emission, 5 Ge(440) analysers\n" + headed.read_text())
    (told,) = predict(named, model=path, target="cn", herfd=True)
    for f, where in ((named, "its file name"), (headed, "its header")):
        (res,) = predict(f, model=path, target="cn")
        (finding,) = [x for x in res.findings if x.code == "herfd_broadened"]
        assert f"{where} says HERFD" in finding.message and "herfd=False" in finding.message
        assert res["cn_probabilities"] == pytest.approx(told["cn_probabilities"])
    for res in (predict(named, model=path, target="cn", herfd=False)[0], predict(silent, model=path, target="cn")[0]):
        assert "herfd_broadened" not in [x.code for x in res.findings]
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "predict", str(named), "--model", str(path),
                        "--no-herfd", "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (cli,) = json.loads(r.stdout)
    assert "herfd_broadened" not in [x["code"] for x in cli["findings"]]
