"""Metals as an answer and short scans, through the default models of Zn (the bundled FEFF10
database: metallic and anion-coordinated Zn sites), in Python, on the command line and in the
Larch shell."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.database import open_database
from larch_motif.labels import is_metallic
from larch_motif.prediction import predict
from larch_motif.preedge import CONFIDENCE_CAP
from larch_motif.spectra import SHORT_SCAN_WINDOWS_EV, read_spectrum, window_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def zn_sites() -> list[dict]:
    with open_database(None) as db:
        return db.site_spectra("Zn", "K")


@pytest.fixture(scope="module")
def zinc_metal(zn_sites) -> dict:
    """The site of native zinc (AMCSD 'zinc')."""
    return next(s for s in zn_sites if s["mineral"] == "zinc")


@pytest.fixture(scope="module")
def zincite_like(zn_sites) -> dict:
    return next(s for s in zn_sites if s["motif"] == "T:4" and s["ligands"] == "O")


def _cut(path, out, end_above_e0_eV: float):
    """``path``'s spectrum written again up to ``end_above_e0_eV`` above its E0 (half step)."""
    from larch_motif.spectra import normalize

    grp = read_spectrum(path)
    grp.motif_warnings = []
    normalize(grp)
    keep = grp.energy <= grp.e0_half + end_above_e0_eV
    out.write_text("# energy mu\n" + "\n".join(f"{a:.4f} {b:.6f}" for a, b in zip(grp.energy[keep], grp.mu[keep])))
    return out


def test_metallic_sites_are_metals_alloys_and_intermetallics_not_carbides_or_sulfides():
    assert is_metallic("Zn") and is_metallic("Cu,Zn") and is_metallic("Fe,Si") and is_metallic("B,Ni")
    assert not is_metallic("C,Fe") and not is_metallic("As,Ni") and not is_metallic("Cu,S")
    assert not is_metallic("O") and not is_metallic("P") and not is_metallic("")


def test_zinc_metal_is_answered_metallic_without_cn_and_an_oxide_is_not(tmp_path, zinc_metal, zincite_like):
    metal = tmp_path / "zn_metal.dat"
    oxide = tmp_path / "zn_oxide.dat"
    write_measured_like(metal, zinc_metal, noise=0.002)
    write_measured_like(oxide, zincite_like, noise=0.002)
    res_metal, res_oxide = predict([metal, oxide], element="Zn")
    assert res_metal["metallic"] is True and res_metal["motif"] == "metallic"
    assert res_metal["cn"] is None and res_metal["cn_site_average"] is None
    assert "cn_probabilities" not in res_metal and 0.5 < res_metal["metallic_probability"] <= 1
    assert res_oxide["metallic"] is False and res_oxide["metallic_probability"] < 0.5
    assert res_oxide["cn"] == "4" and res_oxide["cn_probabilities"]["4"] > 0.5
    assert res_oxide["grid_eV"] == [-8.0, 100.0]


def test_a_metallic_answer_states_the_detectors_grid(tmp_path):
    """Cu's detector reads -8 to +60 eV, its CN and motif models to +100 eV: a metallic answer
    says the grid it was read on, an oxide's the CN model's."""
    with open_database(None) as db:
        cu_sites = db.site_spectra("Cu", "K")
    copper = next(s for s in cu_sites if s["mineral"] == "copper")
    tenorite_like = next(s for s in cu_sites if s["motif"] == "S:4" and s["ligands"] == "O")
    write_measured_like(tmp_path / "cu_metal.dat", copper, noise=0.002)
    write_measured_like(tmp_path / "cu_oxide.dat", tenorite_like, noise=0.002)
    res_metal, res_oxide = predict([tmp_path / "cu_metal.dat", tmp_path / "cu_oxide.dat"], element="Cu")
    assert res_metal["metallic"] is True and res_metal["grid_eV"] == [-8.0, 60.0]
    assert res_oxide["metallic"] is False and res_oxide["grid_eV"] == [-8.0, 100.0]


def test_short_scan_is_answered_by_the_window_it_covers_and_says_so(tmp_path, zincite_like):
    full = tmp_path / "zn_oxide.dat"
    write_measured_like(full, zincite_like, noise=0.002)
    short = _cut(full, tmp_path / "short.dat", 47.0)
    (res,) = predict(short, element="Zn", target="cn")  # one window model to train, not four
    assert res["grid_eV"] == [-8.0, 45.0] and res["in_domain"], res["warnings"]
    assert any(w.startswith("short scan: answered by the models of the window -8 to +45 eV") for w in res["warnings"])
    assert res["cn"] == "4"
    too_short = _cut(full, tmp_path / "too_short.dat", 20.0)
    (res,) = predict(too_short, element="Zn", target="cn")
    assert res["in_domain"] is False
    assert any(w.startswith("range too short") and f"+{min(SHORT_SCAN_WINDOWS_EV):g} eV" in w for w in res["warnings"])


def test_a_scan_too_short_for_every_window_is_possibly_metallic_at_most(tmp_path, zinc_metal):
    """Read as its end value past +15 eV, any spectrum looks smooth, as a metal does: the
    detector may lean to metallic but its confidence is capped, so the answer keeps a CN (capped
    too) and says "possibly metallic" (measured CrO2 cut so was answered metallic before)."""
    full = tmp_path / "zn_metal.dat"
    write_measured_like(full, zinc_metal, noise=0.002)
    (res,) = predict(_cut(full, tmp_path / "zn_metal_to15.dat", 15.0), element="Zn")
    assert res["metallic_probability"] > 0.5 and res["metallic"] is False
    assert res["metallic_confidence"] <= CONFIDENCE_CAP and res["cn_confidence"] <= CONFIDENCE_CAP
    codes = [f["code"] for f in res.to_dict()["findings"]]
    assert {"range_too_short", "possibly_metallic"} <= set(codes)
    assert codes.count("range_too_short") == 1  # said once, not again for the site-average grid


def test_window_for_takes_the_largest_window_a_scan_reaches():
    assert window_for(140.0, "Fe") is None and window_for(59.5, "Fe") is None
    assert window_for(50.0, "Fe") == 45.0 and window_for(44.2, "Zn") == 45.0
    assert window_for(35.0, "Zn") == 30.0 and window_for(20.0, "Zn") is None


def test_cli_prints_metallic_and_reads_raw_columns_with_mu_columns(tmp_path, zinc_metal):
    energy_file = tmp_path / "zn_metal.dat"
    write_measured_like(energy_file, zinc_metal)
    table = np.loadtxt(energy_file)
    i0 = np.full(table.shape[0], 1.0e5)
    raw = tmp_path / "zn_raw.dat"  # three channels, no labels a reader could trust
    raw.write_text("\n".join(f"{e:.4f} {a:.2f} {b:.4f}" for e, a, b in zip(table[:, 0], i0, i0 * np.exp(-table[:, 1]))))
    cli = [sys.executable, "-m", "larch_motif.cli", "predict", str(raw), "--element", "Zn"]
    refused = subprocess.run(cli, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "none of them is labelled as mu" in refused.stderr
    assert "--mu-columns" in refused.stderr
    ok = subprocess.run([*cli, "--mu-columns", "ln(col2/col3)", "--json"], capture_output=True, text=True, timeout=600)
    assert ok.returncode == 0, ok.stderr
    (res,) = json.loads(ok.stdout)
    assert res["metallic"] is True and res["cn"] is None and res["motif"] == "metallic"
    text = subprocess.run([*cli, "--mu-columns", "ln(col2/col3)"], capture_output=True, text=True, timeout=600)
    assert "metallic environment" in text.stdout and "no CN or motif" in text.stdout


def test_larch_motif_predict_on_a_read_xdi_group_and_a_metal(tmp_path, zinc_metal):
    import io

    import larch

    from larch_motif.larch_plugin import INIT_LINE

    energy_file = tmp_path / "zn_metal.dat"
    write_measured_like(energy_file, zinc_metal)
    table = np.loadtxt(energy_file)
    i0 = 1.0e5 * (1 + 0.05 * np.cos(table[:, 0] / 40))
    lines = ["#XDI/1.1", "# Column.1: energy eV", "# Column.2: itrans", "# Column.3: i0",
             "# Element.symbol: Zn", "# Element.edge: K", "#----", "# energy itrans i0"]
    lines += [f"{e:.4f} {t:.4f} {a:.4f}" for e, t, a in zip(table[:, 0], i0 * np.exp(-table[:, 1]), i0)]
    xdi = tmp_path / "zn.xdi"
    xdi.write_text("\n".join(lines) + "\n")
    out = io.StringIO()
    session = larch.Interpreter(writer=out)
    session.eval(INIT_LINE)
    session.eval(f"dat = read_xdi('{xdi}')")
    session.eval("motif_predict(dat, element='Zn')")
    assert not session.error, [e.get_error() for e in session.error]
    dat = session.symtable.get_symbol("dat")
    np.testing.assert_allclose(dat.mu, np.log(i0 / (i0 * np.exp(-table[:, 1]))), atol=1e-4)
    assert dat.motif.metallic is True and dat.motif.cn is None and dat.motif.motif == "metallic"


def test_neighbour_elements_are_the_next_3d_elements_in_z():
    from larch_motif.training import neighbour_elements

    assert neighbour_elements("V") == ["Ti", "Cr"] and neighbour_elements("Ti") == ["V"]
    assert neighbour_elements("Zn") == ["Cu"] and neighbour_elements("Cu", ["Zn", "Fe"]) == ["Zn"]
    assert neighbour_elements("Ga") == []


def test_a_pooled_detector_learns_its_neighbours_metallic_sites_and_scores_only_its_own():
    """Zn's detector with Cu's metallic sites as training-only rows: the model file's report
    names them, its reference spectra (the domain) are Zn's own, and a change of the pool is a
    change of the model's name."""
    from larch_motif import defaults, training

    with open_database(None) as db:
        own = training.select_sites(db.site_spectra("Zn", "K"), "anion+metallic")
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(training, "METALLIC_POOL_ELEMENTS", frozenset({"Zn"}))
            pool, hashes = training.metallic_pool(db, "Zn")
        cu_metals = [s for s in db.site_spectra("Cu", "K") if is_metallic(s["ligands"])]
    assert sorted(hashes) == ["Cu"] and len(pool) == len(cu_metals) > 10
    assert all(s["element"] == "Cu" for s in pool)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(training, "METALLIC_POOL_ELEMENTS", frozenset({"Zn"}))
        mp.setattr(defaults, "METALLIC_POOL_ELEMENTS", frozenset({"Zn"}))
        pooled_name = defaults.default_model_name("Zn", "metallic")
        model, report = training.train("Zn", "metallic", "lightgbm", cv=None)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(defaults, "METALLIC_POOL_ELEMENTS", frozenset())
        assert defaults.default_model_name("Zn", "metallic") != pooled_name
    assert report["pooled_metallic"] == {"elements": ["Cu"], "n_sites": len(cu_metals),
                                         "weight": training.METALLIC_POOL_WEIGHT}
    assert report["n_spectra"] == len(own) and model.training_features.shape[0] == len(own)
    assert report["n_training_rows"] > 5 * len(own) + len(cu_metals)
