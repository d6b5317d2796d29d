"""The pre-edge check: the pre-edge peak of a spectrum (Larch's baseline form) against the CN answer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.findings import code_of
from larch_motif.prediction import predict
from larch_motif.preedge import (
    CONFIDENCE_CAP,
    OCTAHEDRAL_MAX_HEIGHT,
    PreEdgePeak,
    larch_reading,
    motif_cn,
    preedge_findings,
    preedge_peak,
)
from larch_motif.results import Answer, Prediction
from larch_motif.summary import summary_text

E0 = 7125.0


def _edge(step_eV: float = 0.5, peak_height: float = 0.0, start_eV: float = -60.0) -> tuple[np.ndarray, np.ndarray]:
    """A normalized edge (arctan, 2 eV wide, half step at E0) with a Gaussian pre-edge peak
    (FWHM 2 eV) of ``peak_height`` at E0 - 10 eV."""
    e = np.arange(E0 + start_eV, E0 + 60, step_eV)
    norm = 0.5 + np.arctan((e - E0) / 1.0) / np.pi
    norm += peak_height * np.exp(-4 * np.log(2) * ((e - (E0 - 10)) / 2.0) ** 2)
    return e, norm


@pytest.mark.parametrize("height", [0.05, 0.2, 0.6])
def test_peak_height_and_position_read_back(height):
    peak = preedge_peak(*_edge(peak_height=height), E0)
    assert peak is not None
    assert peak.height == pytest.approx(height, abs=0.03 + 0.1 * height)
    assert peak.centroid_eV == pytest.approx(-10, abs=1.5)
    assert peak.area_eV > 0


@pytest.mark.parametrize("height", [0.05, 0.3])
def test_the_fast_baseline_reads_as_larchs_own_fit(height):
    e, norm = _edge(peak_height=height)
    assert preedge_peak(e, norm, E0).height == pytest.approx(larch_reading(e, norm, E0).height, abs=0.02)


def test_edge_without_peak_reads_weak():
    peak = preedge_peak(*_edge(peak_height=0.0), E0)
    assert peak is not None and peak.height < 0.03


def test_scan_too_coarse_or_too_short_before_the_edge_gives_no_reading():
    assert preedge_peak(*_edge(step_eV=8.0, peak_height=0.3), E0) is None
    assert preedge_peak(*_edge(peak_height=0.3, start_eV=-20.0), E0) is None


def test_findings_compare_the_reading_with_the_answer():
    strong, weak = PreEdgePeak(0.3, 0.6, -10.0), PreEdgePeak(0.01, 0.02, -10.0)
    assert [code_of(f) for f in preedge_findings(strong, "Fe", "6")] == ["preedge_strong"]
    assert preedge_findings(strong, "Fe", 4) == []  # a strong pre-edge agrees with CN 4
    assert preedge_findings(weak, "Fe", 6) == []
    assert [code_of(f) for f in preedge_findings(weak, "Cr", 4)] == ["preedge_weak"]
    assert preedge_findings(weak, "Fe", 4) == []  # Fe tetrahedra are not strong enough to tell
    assert preedge_findings(strong, "Zn", 6) == []  # no 3d holes: nothing to read
    assert preedge_findings(None, "Fe", 6) == [] and preedge_findings(strong, "Fe", "uncertain") == []
    assert "Fe" in OCTAHEDRAL_MAX_HEIGHT and "Zn" not in OCTAHEDRAL_MAX_HEIGHT
    assert motif_cn("O:6") == 6 and motif_cn("metallic") is None and motif_cn(None) is None


def test_a_ti_peak_in_the_octahedral_range_speaks_against_cn5():
    """PbTiO3-like: an off-centred octahedron's peak (0.25) under a CN-5 answer; a 5-fold site's
    (0.55) agrees; elements without the rule say nothing."""
    octahedral, five_fold = PreEdgePeak(0.25, 0.5, -8.0), PreEdgePeak(0.55, 1.1, -8.0)
    assert [code_of(f) for f in preedge_findings(octahedral, "Ti", 5)] == ["preedge_weak"]
    assert [code_of(f) for f in preedge_findings(octahedral, "Ti", motif_cn("S:5"))] == ["preedge_weak"]
    assert preedge_findings(five_fold, "Ti", 5) == [] and preedge_findings(octahedral, "Ti", 6) == []
    assert preedge_findings(octahedral, "Fe", 5) == []


def _with_preedge(path, height: float) -> None:
    """Add a Gaussian pre-edge peak of ``height`` edge steps, 10 eV below the half step, to a
    file of ``write_measured_like`` (edge step 1.7)."""
    from larch_motif.spectra import e0_half_step, normalize, read_spectrum

    grp = read_spectrum(path)
    normalize(grp)
    e0 = e0_half_step(grp.energy, grp.flat)
    mu = grp.mu + height * grp.edge_step * np.exp(-4 * np.log(2) * ((grp.energy - (e0 - 10)) / 2.0) ** 2)
    path.write_text("# energy_eV mu (raw)\n" + "\n".join(f"{a:.4f} {b:.6f}" for a, b in zip(grp.energy, mu)) + "\n")


def _plain_and_peaked(tmp_path, model_path, site: dict, height: float) -> tuple:
    """The CN answers of a measured-like spectrum of ``site`` without and with a pre-edge peak of
    ``height`` edge steps (``_with_preedge``)."""
    plain, peaked = tmp_path / "plain.dat", tmp_path / "peaked.dat"
    write_measured_like(plain, site)
    write_measured_like(peaked, site)
    _with_preedge(peaked, height)
    (clean,) = predict(plain, model=model_path, target="cn")
    (res,) = predict(peaked, model=model_path, target="cn")
    return clean, res


def test_strong_preedge_caps_a_cn6_answer_and_says_why(tmp_path, fe_sites, fe_cn_model):
    model_path, _, _ = fe_cn_model
    clean, res = _plain_and_peaked(tmp_path, model_path, next(s for s in fe_sites if s["cn"] == 6), 0.3)
    assert clean["preedge"] is not None and clean["preedge"]["height"] < OCTAHEDRAL_MAX_HEIGHT["Fe"]
    assert "preedge_strong" not in [f["code"] for f in clean["findings"]]
    assert res["preedge"]["height"] > OCTAHEDRAL_MAX_HEIGHT["Fe"]
    assert res["cn"] == "6"  # the models do not see the pre-edge (their grid starts at E0 - 8 eV)
    assert "preedge_strong" in [f["code"] for f in res["findings"]]
    assert res["cn_confidence"] <= CONFIDENCE_CAP < clean["cn_confidence"]
    assert res["in_domain"] is clean["in_domain"]  # a doubt, not a spectrum outside the domain


@pytest.mark.parametrize("height", [0.6, 0.9, 1.2])
def test_half_step_e0_is_on_the_main_edge_not_on_an_intense_preedge_peak(height):
    """A chromate's or permanganate's 1s->3d peak reaches above half the edge step; the first
    crossing of 0.5 lies on it, 10 eV low, and E0 must not."""
    from larch_motif.spectra import e0_half_step

    e, norm = _edge(peak_height=height)
    first_crossing = e[np.argmax(norm >= 0.5)]
    assert first_crossing < E0 - 9
    assert e0_half_step(e, norm) == pytest.approx(E0, abs=0.3)


def test_half_step_e0_of_a_noisy_edge_stays_at_the_edge():
    from larch_motif.spectra import e0_half_step

    e, norm = _edge(step_eV=0.25)
    noisy = norm + np.random.default_rng(3).normal(0, 0.02, e.size)
    assert e0_half_step(e, noisy) == pytest.approx(E0, abs=0.5)


def test_an_intense_preedge_peak_leaves_the_features_on_the_main_edge(tmp_path, fe_sites, fe_cn_model):
    """Through Larch's pre_edge and predict: a peak of 0.9 edge steps moves neither the half-step
    E0 nor the answer, and the pre-edge reading sees the peak."""
    model_path, _, _ = fe_cn_model
    clean, res = _plain_and_peaked(tmp_path, model_path, next(s for s in fe_sites if s["cn"] == 4), 0.9)
    assert res["e0_half"] == pytest.approx(clean["e0_half"], abs=1.0)
    assert res["preedge"]["height"] > 0.5
    assert res["cn"] == clean["cn"] and res["in_domain"] is clean["in_domain"]


def test_a_short_scan_is_cut_from_the_main_edge_not_from_the_preedge_peak():
    """Larch's E0 (steepest rise) lands on an intense pre-edge peak, 10 eV below the edge; the
    window's cut must still reach ``scan_end_eV`` above the edge."""
    from larch import Group

    from larch_motif.spectra import cut_scan, normalize

    e, norm = _edge(step_eV=0.25, peak_height=1.0, start_eV=-150.0)
    e = np.concatenate([e, np.arange(e[-1] + 0.25, E0 + 150, 0.25)])
    norm = np.concatenate([norm, 0.5 + np.arctan((e[norm.size:] - E0) / 1.0) / np.pi])
    grp = Group(energy=e, mu=0.2 + 1.7 * norm)
    normalize(grp)
    assert grp.e0 < grp.e0_half - 6  # Larch's E0 is on the peak's flank
    cut = cut_scan(grp, 45.0)
    assert cut.energy[-1] >= grp.e0_half + 44.5
    assert cut.e0_half == pytest.approx(grp.e0_half, abs=0.5)


def test_no_peak_above_the_baseline_is_said_in_words_and_stays_valid_json():
    """Nothing above the baseline (FEFF10 theory of a tetrahedral Fe site read -0.004): the
    reading has no centroid, and neither its JSON form nor the summary shows a NaN."""
    reading = PreEdgePeak(-0.004, -0.02, float("nan")).to_dict()
    assert reading["centroid_eV"] is None
    json.dumps(reading, allow_nan=False)
    res = Prediction(element="Fe", edge="K", e0=E0, e0_half=E0, grid_eV=[-8.0, 60.0],
                     answers={"cn": Answer("cn", "6", {"6": 1.0}, 0.9)}, preedge=reading)
    text = summary_text(res)
    assert "pre-edge: no peak above the baseline" in text and "nan" not in text
    assert "pre-edge peak 0.300 of the edge step at E0 -10.0 eV" in summary_text(
        dataclasses.replace(res, preedge=PreEdgePeak(0.3, 0.6, -10.0).to_dict()))
