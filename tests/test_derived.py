"""Structures derived for rare motifs: an element put on a donor's sites of an AMCSD structure,
the lattice scaled by the ionic-radius difference, and their spectra computed with the real
FEFF10 into a database of their own."""

from __future__ import annotations

import numpy as np
import pytest

from larch_motif.build import build_derived
from larch_motif.calculators import CalculationParameters
from larch_motif.database import open_database
from larch_motif.errors import LarchMotifError
from larch_motif.labels import site_labels
from larch_motif.structures import amcsd_entry, ionic_radius_A, substituted

TINY = CalculationParameters(cluster_radius_A=3.0, fms_radius_A=2.6, xanes_kmax_invA=4.0, timeout_s=120)


def _first_amcsd_id(mineral: str) -> int:
    from larixite.amcsd import AMCSD

    return int(AMCSD(read_only=True).find_cifs(mineral_name=mineral)[0].ams_id)


def test_substituted_sphalerite_has_mn_tetrahedra_longer_by_the_ionic_radius_difference():
    parent = amcsd_entry(_first_amcsd_id("sphalerite"))
    zn = [i for i, s in enumerate(parent.structure) if s.specie.symbol == "Zn"][0]
    zn_s = site_labels(parent.structure, [zn])[zn]["bond_mean_A"]
    derived = substituted(parent, "Zn", "Mn", 2, 4, zn_s)
    mn = [i for i, s in enumerate(derived.structure) if s.specie.symbol == "Mn"][0]
    label = site_labels(derived.structure, [mn])[mn]
    assert label["motif"] == "T:4" and label["ligands"] == "S"
    shift = ionic_radius_A("Mn", 2, 4) - ionic_radius_A("Zn", 2, 4)  # 0.66 - 0.60 A
    assert label["bond_mean_A"] == pytest.approx(zn_s + shift, abs=1e-6)
    assert derived.mineral == parent.mineral  # held out with its parent in grouped CV
    assert derived.structure_id == f"derived:Zn>Mn:{parent.structure_id}"
    assert derived.notes["derived_from"] == parent.structure_id and derived.error is None
    assert any(s.specie.symbol == "Zn" for s in parent.structure)  # the parent is untouched


def test_a_parent_that_holds_the_element_or_lacks_the_donor_derives_nothing():
    franklinite = amcsd_entry(_first_amcsd_id("franklinite"))  # ZnFe2O4: Fe is there already
    assert substituted(franklinite, "Zn", "Fe", 2, 4, 2.0).error.endswith("holds Fe already")
    assert "no Cu" in substituted(franklinite, "Cu", "Ni", 2, 4, 2.0).error


def test_ionic_radius_of_a_missing_state_is_a_clear_error():
    assert ionic_radius_A("Ni", 2, 4, square_planar=True) == pytest.approx(0.49)
    with pytest.raises(LarchMotifError, match="no Shannon radius of Mn3"):
        ionic_radius_A("Mn", 3, 4)


def test_derived_build_stores_labelled_spectra_marked_with_their_parent(tmp_path):
    db = tmp_path / "derived.sqlite"
    report = build_derived("Ni", db, {"Zn": ("T:4",)}, per_donor=1, workers=1, progress=False, params=TINY)
    assert report.sites_new >= 1 and report.sites_failed == 0
    with open_database(db) as store:
        sites = store.site_spectra("Ni")
        row = store.conn.execute("SELECT source, notes FROM structures WHERE element='Ni'").fetchone()
    assert row["source"].startswith("derived from amcsd:") and '"substitution": "Zn->Ni"' in row["notes"]
    assert {s["motif"] for s in sites} == {"T:4"}
    assert all(s["structure_id"].startswith("derived:Zn>Ni:amcsd:") for s in sites)
    assert all(np.ptp(s["mu"]) > 0.5 for s in sites)  # an edge, computed by FEFF10


def test_mn_default_models_learn_the_derived_tetrahedra_and_ni_does_not():
    from larch_motif import defaults
    from larch_motif.training import DERIVED_MOTIFS, derived_pool

    sites, content = derived_pool("Mn", "cn")
    assert sites and content and {s["motif"] for s in sites} <= set(DERIVED_MOTIFS["Mn"])
    assert all(s["structure_id"].startswith("derived:") for s in sites)
    for target in ("cn", "motif"):  # the bundled models say what they learnt from
        derived = defaults.default_model("Mn", target).metadata["training"]["derived"]
        assert derived == {"n_sites": len(sites), "content_hash": content, "weight": defaults.DERIVED_WEIGHT}
    ti_sites, _ = derived_pool("Ti", "cn")  # Ti's CN 4 is a class only with them (3 sites of its own)
    assert "4" in defaults.default_model("Ti", "cn").classes and {s["cn"] for s in ti_sites} == {4, 5}
    assert derived_pool("Ni", "cn") == ([], None)  # measured and not taken (docs/validation/derived.md)
    assert derived_pool("Mn", "metallic") == ([], None)
    assert defaults.default_model("Ni", "cn").metadata["training"].get("derived") is None


def test_default_model_name_keys_the_derived_structures(monkeypatch):
    from larch_motif import defaults, training

    name = defaults.default_model_name("Mn", "cn")
    monkeypatch.setattr(defaults, "DERIVED_WEIGHT", 0.5)
    assert defaults.default_model_name("Mn", "cn") != name  # another weight: another model
    monkeypatch.setattr(defaults, "DERIVED_MOTIFS", {**defaults.DERIVED_MOTIFS, "Mn": ("T:4", "S:4")})
    assert defaults.default_model_name("Mn", "cn") != name  # other motifs learnt: another model
    monkeypatch.setattr(training, "DERIVED_ELEMENTS", frozenset())
    assert defaults.default_model_name("Mn", "cn") != name


@pytest.mark.parametrize("args, message", [
    (["--element", "Mn", "--donors", "Zn"], "--donors takes DONOR:MOTIF (e.g. Zn:T:4), not 'Zn'"),
    (["--element", "Cu"], "no donors of derived structures for Cu (known: Mn, Ni, Ti); give them"),
])
def test_bad_derive_input_is_one_line_exit_2(tmp_path, args, message):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "db", "derive", "--db", str(tmp_path / "x.sqlite"),
                        *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_the_motifs_learnt_are_those_the_donors_were_chosen_for():
    from larch_motif.build import DERIVED_DONORS
    from larch_motif.training import DERIVED_MOTIFS

    assert {el: {m for motifs in donors.values() for m in motifs} for el, donors in DERIVED_DONORS.items()} \
        == {el: set(motifs) for el, motifs in DERIVED_MOTIFS.items()}


def test_ti_takes_its_own_oxidation_state_on_a_vanadate_tetrahedron():
    from larixite.amcsd import AMCSD

    parent = amcsd_entry(int(AMCSD(read_only=True).find_cifs(mineral_name="blossite")[0].ams_id))  # Cu2V2O7
    derived = substituted(parent, "V", "Ti", 5, 4, 1.72, element_oxidation_state=4)
    shift = ionic_radius_A("Ti", 4, 4) - ionic_radius_A("V", 5, 4)  # 0.42 - 0.355 A
    assert derived.error is None and derived.notes["oxidation_state"] == 4
    assert derived.notes["bond_shift_A"] == pytest.approx(shift, abs=1e-4)
