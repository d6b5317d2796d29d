"""Baselines, the site domain and the energy-stretch augmentation, on the bundled database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from larch_motif.baselines import (
    LarchPLSBaseline,
    MajorityBaseline,
    NearestReferenceBaseline,
    baselines,
    brier_score,
    brier_scores,
)
from larch_motif.database import open_database
from larch_motif.defaults import default_model
from larch_motif.errors import LarchMotifError
from larch_motif.labels import in_site_domain
from larch_motif.models import temper
from larch_motif.spectra import (
    GRID_MAX_EV_BY_ELEMENT,
    METALLIC_GRID_MAX_EV_BY_ELEMENT,
    Preprocessing,
    features,
    preprocessing_for,
    theory_group,
)
from larch_motif.training import (
    STRETCH_WITH_SCF,
    STRETCH_WITHOUT_SCF,
    Augmentation,
    augmentation_for,
    cross_validate,
    fit_temperature,
    foot_gap_profile,
    perturbed_features,
    select_sites,
    site_features,
    train,
    training_set,
)


@pytest.fixture(scope="module")
def fe_cn_set(fe_sites):
    return training_set(select_sites(fe_sites), "cn", Preprocessing(), augmentation=None)


def test_anion_domain_keeps_oxides_and_sulfides_and_drops_metal_bonded_sites():
    assert in_site_domain("O") and in_site_domain("As,S") and in_site_domain("C,N")
    assert not in_site_domain("Fe,Ni") and not in_site_domain("O,Si") and not in_site_domain("")
    with open_database(None) as db:  # Cu: computed for every site (Fe: anion sites only, SCF)
        cu_sites = db.site_spectra("Cu")
    kept = select_sites(cu_sites, "anion")
    assert 0 < len(kept) < len(cu_sites)
    assert all(set(s["ligands"].split(",")) <= {"O", "N", "F", "Cl", "Br", "I", "S", "Se", "Te", "C", "P",
                                                "As", "Sb", "H"} for s in kept)
    assert len(select_sites(cu_sites, "all")) == len(cu_sites)
    with pytest.raises(LarchMotifError, match="unknown site domain 'metals'"):
        select_sites(cu_sites, "metals")


def test_nearest_reference_finds_a_training_spectrum_itself(fe_cn_set):
    ts = fe_cn_set
    clf = NearestReferenceBaseline().fit(ts.X, ts.y)
    assert np.allclose(clf.similarity(ts.X[:5]).max(axis=1), 1.0)
    # identical spectra of two minerals with other labels are the only way to miss
    assert (clf.predict(ts.X) == ts.y).mean() > 0.95


def test_larch_pls_regresses_cn_with_larchs_own_code(fe_cn_set):
    ts = fe_cn_set
    clf = LarchPLSBaseline(energy_eV=Preprocessing().feature_energies()).fit(ts.X, ts.y)
    values = clf.predict_value(ts.X)
    cn = ts.y.astype(float)
    # the PLS estimate follows the CN: CN-6 sites lie higher than CN-4 sites on average
    assert values[cn == 6].mean() > values[cn == 4].mean() + 0.5
    assert set(clf.predict(ts.X)) <= set(ts.y)
    # with the derivative channel the feature energies repeat the grid; PLS still fits
    prep_d = Preprocessing(derivative=True)
    Xd = np.hstack([ts.X, np.gradient(ts.X, axis=1)])
    with_derivative = LarchPLSBaseline(energy_eV=prep_d.feature_energies()).fit(Xd, ts.y)
    assert with_derivative.predict_value(Xd)[cn == 6].mean() > with_derivative.predict_value(Xd)[cn == 4].mean()
    with pytest.raises(LarchMotifError, match="not a motif"):
        LarchPLSBaseline().fit(ts.X, np.where(cn == 6, "O:6", "T:4"))
    assert "larch_pls" not in baselines("motif", Preprocessing().feature_energies())


def test_majority_baseline_in_grouped_cv_scores_the_majority_share(fe_cn_set):
    ts = fe_cn_set
    res = cross_validate(ts, "majority", cv=5, estimator=MajorityBaseline())
    share = (ts.y == "6").mean()
    assert res["accuracy"] == pytest.approx(share, abs=0.02)
    assert res["confusion_matrix"]["matrix"][res["confusion_matrix"]["labels"].index("4")][
        res["confusion_matrix"]["labels"].index("4")] == 0
    # the majority's Brier score is that of the class shares; a sure one-class answer scores worse
    sure = cross_validate(ts, "nearest", cv=5, estimator=NearestReferenceBaseline())
    assert sure["brier"] == pytest.approx(2 * (1 - sure["accuracy"]))
    assert 0 < res["brier"] < 2 * (1 - res["accuracy"])


def test_energy_stretch_moves_the_white_line_away_from_e0(fe_sites):
    prep = Preprocessing(grid_step_eV=0.25)
    site = next(s for s in select_sites(fe_sites) if s["motif"] == "O:6")
    grp = theory_group(site["energy_eV"], site["mu"], prep)
    grid = prep.grid()
    peak = grid[np.argmax(features(grp, prep))]
    stretched = grid[np.argmax(perturbed_features(grp, prep, 0.0, 1.0, 1.4))]
    assert peak > 0 and stretched == pytest.approx(1.4 * peak, abs=0.5)
    assert np.allclose(features(grp, prep), perturbed_features(grp, prep, 0.0, 1.0, 1.0))


def test_log_width_draw_puts_half_the_copies_below_the_geometric_middle():
    """``width_draw="log"``: widths stay in their range, and as many fall below the geometric
    middle (1.58 eV of 0.5-5 eV) as above it; uniform draws put only a quarter there."""
    low_high = (0.5, 5.0)
    middle = np.sqrt(low_high[0] * low_high[1])
    shares = {}
    for draw in ("uniform", "log"):
        rng = np.random.default_rng(1)
        widths = np.array([Augmentation(width_draw=draw).draw_width_eV(rng, low_high) for _ in range(4000)])
        assert widths.min() >= low_high[0] and widths.max() <= low_high[1]
        shares[draw] = float((widths < middle).mean())
    assert shares["log"] == pytest.approx(0.5, abs=0.03)
    assert shares["uniform"] == pytest.approx((middle - 0.5) / 4.5, abs=0.03)
    with pytest.raises(LarchMotifError, match="width_draw"):
        Augmentation(width_draw="gamma")
    with pytest.raises(LarchMotifError, match="above 0"):
        Augmentation(width_draw="log", lorentzian_fwhm_eV=(0.0, 4.0))
    # the uniform draw leaves the field out, so the default models keep their names and cache keys
    assert "width_draw" not in Augmentation().as_dict() and Augmentation(width_draw="log").as_dict()["width_draw"] == "log"


def test_foot_gap_lowers_the_copies_below_e0_only(fe_sites):
    """``Augmentation.foot_gap``: the augmented copies lie under those without it from -8 eV to
    E0, by at most foot_gap times the profile, deepest at -3 eV; from E0 up, and on the
    unperturbed rows, they are the same (the depths have their own random stream)."""
    prep = preprocessing_for("Fe")
    grid = prep.grid()
    plain = site_features(fe_sites[:3], prep, Augmentation(copies=3))
    gapped = site_features(fe_sites[:3], prep, Augmentation(copies=3, foot_gap=0.2))
    diff = gapped.X - plain.X
    assert np.array_equal(plain.augmented, gapped.augmented)
    assert np.all(diff[~gapped.augmented] == 0) and np.all(diff[:, grid >= 0] == 0)
    below = diff[gapped.augmented][:, grid < 0]
    assert np.all(below <= 0) and below.min() >= -0.2 and below.min() < -0.01
    assert np.all(np.argmin(diff[gapped.augmented], axis=1) == np.flatnonzero(grid == -3.0)[0])
    assert foot_gap_profile(np.array([-3.0, 0.0, 5.0])).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(LarchMotifError, match="foot_gap"):
        Augmentation(foot_gap=-0.1)
    assert "foot_gap" not in Augmentation().as_dict() and Augmentation(foot_gap=0.2).as_dict()["foot_gap"] == 0.2


def test_augmentation_follows_the_calculation_settings_of_the_database(tmp_path):
    scf = {"calculator": "feff10", "parameters": {"scf_radius_A": 3.0, "fms_radius_A": 4.0}}
    no_scf = {"calculator": "feff10", "parameters": {"scf_radius_A": None, "fms_radius_A": 4.0}}
    assert augmentation_for(scf).energy_stretch == STRETCH_WITH_SCF
    assert augmentation_for(no_scf).energy_stretch == augmentation_for(None).energy_stretch == STRETCH_WITHOUT_SCF
    assert STRETCH_WITH_SCF[1] < STRETCH_WITHOUT_SCF[1]
    with open_database(None) as db:
        assert all(db.calculation(el, edge)["parameters"].get("scf_radius_A") for el, edge in db.elements())
        bundled = db.path
    # the model file records the augmentation the database's settings chose: every bundled element
    # has SCF, so a copy of the database records Ti's spectra as computed without it
    copy = tmp_path / "no_scf_ti.sqlite"
    copy.write_bytes(Path(bundled).read_bytes())
    con = sqlite3.connect(copy)
    (settings,) = con.execute("SELECT value FROM meta WHERE key='calculation:Ti:K'").fetchone()
    settings = json.loads(settings)
    settings["parameters"]["scf_radius_A"] = None
    con.execute("UPDATE meta SET value=? WHERE key='calculation:Ti:K'", (json.dumps(settings),))
    con.commit()
    con.close()
    model, _ = train("Ti", "cn", "rf", db=copy, cv=None, backend_params={"n_estimators": 5})
    assert tuple(model.metadata["augmentation"]["energy_stretch"]) == STRETCH_WITHOUT_SCF
    model, _ = train("Ti", "cn", "rf", cv=None, backend_params={"n_estimators": 5})
    assert tuple(model.metadata["augmentation"]["energy_stretch"]) == STRETCH_WITH_SCF
    with pytest.raises(LarchMotifError, match="augmentation must be"):
        train("Fe", "cn", "rf", cv=None, augmentation="stretchy")


def test_default_models_use_the_feature_grid_chosen_for_their_element():
    assert preprocessing_for("Fe") == Preprocessing()
    assert preprocessing_for("Zn").grid_max_eV == GRID_MAX_EV_BY_ELEMENT["Zn"] > Preprocessing().grid_max_eV
    # train without a preprocessing: the model file records the element's grid, and its
    # training features (the domain check's references) span it
    model, _ = train("Zn", "cn", "rf", cv=None, augmentation=None, backend_params={"n_estimators": 5})
    assert model.preprocessing == preprocessing_for("Zn")
    assert model.training_features.shape[1] == preprocessing_for("Zn").grid().size
    # an explicit preprocessing still wins
    model, _ = train("Zn", "cn", "rf", cv=None, augmentation=None, backend_params={"n_estimators": 5},
                     prep=Preprocessing())
    assert model.training_features.shape[1] == Preprocessing().grid().size


def test_a_metallic_detector_with_its_own_grid_is_trained_and_bundled_on_it():
    """Cu's detector reads -8..+60 eV while its CN and motif models read to +100 eV; each
    detector's grid lies inside its element's, so that a spectrum given the full-grid models
    reaches the detector's grid too."""
    assert preprocessing_for("Cu", target="metallic").grid_max_eV == 60.0 < preprocessing_for("Cu").grid_max_eV
    assert preprocessing_for("Cu", target="cn") == preprocessing_for("Cu")
    assert preprocessing_for("Cu", 45.0, target="metallic") == preprocessing_for("Cu", 45.0)  # windows: one grid
    for element, grid_max in METALLIC_GRID_MAX_EV_BY_ELEMENT.items():
        assert grid_max <= preprocessing_for(element).grid_max_eV, element
    assert default_model("Cu", "metallic").preprocessing == preprocessing_for("Cu", target="metallic")
    assert default_model("Co", "metallic").preprocessing == preprocessing_for("Co") == Preprocessing(grid_max_eV=80.0)
    # train without a preprocessing, as the CLI, Larch and Larix do: the detector's own grid
    model, _ = train("Cu", "metallic", "rf", cv=None, augmentation=None, backend_params={"n_estimators": 5})
    assert model.preprocessing.grid_max_eV == 60.0
    assert model.training_features.shape[1] == preprocessing_for("Cu", target="metallic").grid().size


def test_majority_probabilities_are_the_class_shares_and_brier_scores_them(fe_cn_set):
    ts = fe_cn_set
    clf = MajorityBaseline().fit(ts.X, ts.y)
    proba = clf.predict_proba(ts.X[:3])
    share = {c: (ts.y == c).mean() for c in clf.classes_}
    assert proba.shape == (3, len(clf.classes_)) and np.allclose(proba.sum(axis=1), 1.0)
    assert proba[0, list(clf.classes_).index("6")] == pytest.approx(share["6"])
    assert brier_score({"6": 1.0}, "6") == 0.0
    assert brier_score({"6": 1.0}, "4") == 2.0  # sure and wrong; "4" was not among the classes
    assert brier_score({"6": 0.5, "4": 0.5}, "4") == pytest.approx(0.5)
    shares = dict(zip(clf.classes_, proba[0]))
    # the prior is scored worse than a sure right answer and better than a sure wrong one
    assert 0.0 < brier_score(shares, "6") < brier_score(shares, "4") < 2.0


def test_temper_sharpens_or_softens_without_changing_the_answer():
    p = np.array([[0.6, 0.3, 0.1], [0.0, 0.2, 0.8]])
    assert np.array_equal(temper(p, 1.0), p)
    sharp = temper(p, 0.5)  # p**2, renormalized
    assert np.allclose(sharp[0], np.array([0.36, 0.09, 0.01]) / 0.46)
    assert sharp[1, 0] == 0.0  # a class the model excludes stays excluded
    soft = temper(p, 4.0)
    assert np.allclose(soft.sum(axis=1), 1) and np.allclose(sharp.sum(axis=1), 1)
    assert (sharp.argmax(axis=1) == p.argmax(axis=1)).all() and (soft.argmax(axis=1) == p.argmax(axis=1)).all()
    assert sharp[0, 0] > p[0, 0] > soft[0, 0] > 1 / 3


def test_fit_temperature_recovers_the_temperature_that_made_probabilities_overconfident():
    rng = np.random.default_rng(3)
    labels = ["4", "5", "6"]
    true_p = rng.dirichlet([1.0, 1.0, 1.0], size=4000)
    truth = np.array([rng.choice(labels, p=row) for row in true_p])
    overconfident = temper(true_p, 0.5)  # what a model sure of itself would say
    t = fit_temperature(overconfident, labels, truth)
    assert t == pytest.approx(2.0, rel=0.15)
    calibrated = brier_scores(temper(overconfident, t), labels, truth).mean()
    assert calibrated < brier_scores(overconfident, labels, truth).mean()
    # already calibrated probabilities need no temperature
    assert fit_temperature(true_p, labels, truth) == pytest.approx(1.0, abs=0.1)
    # sure one-class answers: no temperature changes them, so T stays 1
    sure = (np.arange(3)[None, :] == rng.integers(0, 3, size=50)[:, None]).astype(float)
    assert fit_temperature(sure, labels, truth[:50]) == 1.0


def test_fold_seed_reassigns_minerals_to_folds_reproducibly(fe_cn_set):
    def run(seed):
        res = cross_validate(fe_cn_set, "nearest", cv=5, estimator=NearestReferenceBaseline(),
                             return_predictions=True, fold_seed=seed)
        return dict(zip(res["predictions"]["site_id"], res["predictions"]["predicted"])), res["accuracy"]

    fixed, again, shuffled, other = run(None), run(None), run(0), run(1)
    assert fixed == again and run(0) == shuffled  # the same seed, the same folds
    assert shuffled[0].keys() == fixed[0].keys()  # every site is still held out once
    # another assignment of minerals to folds leaves other references in the training folds
    assert shuffled[0] != fixed[0] and shuffled[0] != other[0]


def test_grouped_cv_reports_out_of_sample_tempered_brier(fe_cn_set):
    res = cross_validate(fe_cn_set, "rf", cv=5)
    # a class-balanced forest spreads its votes: its held-out probabilities want sharpening
    assert res["temperature"] < 1.0
    assert res["brier_calibrated"] < res["brier"]
