"""The default models shipped in the package (a first answer without training) and the answers
a person reads: the text summary, the CLI table and the Larch ``group.motif`` when printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_measured_like

from larch_motif.database import open_database
from larch_motif.defaults import (
    DEFAULT_BACKEND,
    bundled_model_folder,
    default_model_name,
    find_default_model,
)
from larch_motif.models import load_model
from larch_motif.prediction import predict
from larch_motif.spectra import CN_MEAN_GRID_MIN_EV
from larch_motif.summary import motif_name, results_table, summary_text

BIN = Path(sys.executable).parent
FULL_GRID_TARGETS = ("cn", "motif", "cn_mean", "metallic")


def _bundled_elements() -> list[str]:
    with open_database(None) as db:
        return [el for el, edge in db.elements() if edge == "K"]


@pytest.mark.parametrize("element", _bundled_elements())
def test_every_bundled_element_ships_current_default_models(element):
    """A database or training change renames the models (their key); the shipped ones must follow."""
    for target in FULL_GRID_TARGETS:
        name = default_model_name(element, target, "K", DEFAULT_BACKEND)
        path = bundled_model_folder() / name
        assert path.is_file(), (f"{name} is not in {bundled_model_folder()}: run "
                                "`larch-motif models prepare --bundle` after changing the database or training")
        model = load_model(path)  # the safe format: JSON, .npy without pickle, LightGBM text
        assert (model.element, model.target) == (element, target)
        # the regressor of the site average starts above the pre-edge, the classifiers read it
        assert model.preprocessing.grid_min_eV == (CN_MEAN_GRID_MIN_EV if target == "cn_mean" else -8.0)


def test_bundled_models_are_read_in_place_and_nothing_is_trained(tmp_path, monkeypatch, fe_sites):
    cache = tmp_path / "empty_cache"
    monkeypatch.setenv("LARCH_MOTIF_CACHE", str(cache))
    name = default_model_name("Fe", "cn")
    assert find_default_model(name) == bundled_model_folder() / name
    spectrum = tmp_path / "fe.dat"
    write_measured_like(spectrum, next(s for s in fe_sites if s["cn"] == 4 and s["ligands"] == "O"))
    (res,) = predict([spectrum], element="Fe")
    assert res["cn"] is not None and res["cn_confidence"] > 0
    assert not cache.exists() or not any(cache.iterdir()), "a bundled model was trained again"


def test_models_prepare_lists_the_bundled_models_as_ready(tmp_path, monkeypatch):
    monkeypatch.setenv("LARCH_MOTIF_CACHE", str(tmp_path / "cache"))
    out = subprocess.run([str(BIN / "larch-motif"), "models", "prepare", "--element", "Zn"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(out) == len(FULL_GRID_TARGETS)
    assert all(" ready " in line and str(bundled_model_folder()) in line for line in out)


def test_summary_and_table_say_the_answer_in_words(tmp_path, fe_sites):
    files = []
    for k, cn in enumerate((4, 6)):
        files.append(tmp_path / f"fe_{k}.dat")
        write_measured_like(files[-1], next(s for s in fe_sites if s["cn"] == cn and s["ligands"] == "O"))
    results = predict(files, element="Fe")
    text = summary_text(results[0])
    assert text.splitlines()[0].startswith(str(files[0]))
    assert f"CN     {results[0]['cn']}" in text
    assert f"confidence {results[0]['cn_confidence']:.2f}" in text
    assert motif_name(results[0]["motif"]) in text
    assert ("in domain: yes" in text) == results[0]["in_domain"]
    table = results_table(results).splitlines()
    assert table[0] == f"spectra in {tmp_path}{os.sep}"  # files of one folder: named relative to it
    assert table[1].split()[:4] == ["#", "spectrum", "element", "CN"]
    assert [line.split()[1] for line in table[3:5]] == ["fe_0.dat", "fe_1.dat"]
    assert [line.split()[3] for line in table[3:5]] == [str(r["cn"]) for r in results]
    assert motif_name("O:6") == "O:6 (octahedron)" and motif_name("XY:9") == "XY:9"


def test_cli_prints_the_summary_for_one_file_and_a_table_for_several(tmp_path, fe_sites):
    files = []
    for k in range(2):
        files.append(tmp_path / f"fe_{k}.dat")
        write_measured_like(files[-1], [s for s in fe_sites if s["ligands"] == "O"][k])
    one = subprocess.run([str(BIN / "larch-motif"), "predict", str(files[0]), "--element", "Fe"],
                         capture_output=True, text=True, check=True).stdout
    assert "  CN " in one and "  motif " in one and "in domain:" in one
    many = subprocess.run([str(BIN / "larch-motif"), "predict", *map(str, files), "--element", "Fe"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    assert many[1].split()[:2] == ["#", "spectrum"] and len([r for r in many if r[:1] in "12"]) >= 2


def test_larch_group_motif_prints_its_summary(tmp_path, fe_sites):
    import larch

    from larch_motif.larch_plugin import INIT_LINE

    spectrum = tmp_path / "fe.dat"
    write_measured_like(spectrum, next(s for s in fe_sites if s["cn"] == 6 and s["ligands"] == "O"))
    shell = larch.Interpreter()
    shell.eval(INIT_LINE)
    shell.eval(f"dat = read_ascii('{spectrum}', labels='energy mu')")
    shell.eval("motif_predict(dat, element='Fe')")
    motif = shell.symtable.get_symbol("dat.motif")
    (expected,) = predict([spectrum], element="Fe")
    text = str(motif)
    assert text.splitlines()[0].startswith(spectrum.name)  # the file Larch read
    assert f"CN     {expected['cn']}" in text and repr(motif) == text
    assert motif.cn == expected["cn"]  # the values stay attributes


@pytest.mark.parametrize("element", _bundled_elements())
def test_every_bundled_element_is_told_from_e0_and_answered(tmp_path, element):
    """A raw file of an octahedral oxide site, given without an element: the element comes from
    E0 (xraydb) and its bundled models answer."""
    with open_database(None) as db:
        site = next(s for s in db.site_spectra(element, "K") if s["cn"] == 6 and s["ligands"] == "O")
    spectrum = tmp_path / f"{element}.dat"
    write_measured_like(spectrum, site)
    (res,) = predict([spectrum])
    assert res["element"] == element
    assert res["cn"] is not None and 0 < res["cn_confidence"] <= 1


@pytest.mark.parametrize(("source", "shift_eV", "message"), [
    ("Fe", 695.0 - 7112.0, r"E0 7\d\d\.\d eV is nearest the Fe L3 edge \(707 eV\): the bundled models are K edges only"),
    ("Zn", 10367.0 - 9659.0, r"no bundled model for Ga K edge \(bundled: .*Zn K\)"),
])
def test_an_edge_without_a_model_is_named_in_one_line(tmp_path, source, shift_eV, message):
    """A spectrum at an L edge (Fe L3, E0 near 708 eV: the nearest K edge is F's, 697 eV) or at the K edge
    of an element without a bundled model (Ga) gets one line that names the edge and the elements
    that have models, not an answer from another element's models."""
    from larch_motif.errors import LarchMotifError

    with open_database(None) as db:
        site = next(s for s in db.site_spectra(source, "K") if s["cn"] == 6 and s["ligands"] == "O")
    spectrum = tmp_path / "edge.dat"
    write_measured_like(spectrum, {**site, "energy_eV": site["energy_eV"] + shift_eV})
    with pytest.raises(LarchMotifError, match=message) as err:
        predict([spectrum])
    assert "\n" not in str(err.value)
