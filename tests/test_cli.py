"""The command-line contract: JSON shapes, exit codes, one-line errors, plugin backends."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_measured_like

CLI = [sys.executable, "-m", "larch_motif.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def test_train_json_has_the_contract_fields(tmp_path):
    out = tmp_path / "m.lmm"
    r = run("train", "--element", "Fe", "--target", "cn", "--backend", "lightgbm", "--cv", "3",
            "--params", '{"n_estimators": 40}', "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("target", "backend", "n_spectra", "n_groups", "cv_folds", "accuracy",
                "balanced_accuracy", "macro_f1", "brier", "brier_calibrated", "temperature",
                "confusion_matrix", "seconds"):
        assert key in report
    assert report["cv_folds"] == 3 and out.is_file()
    cm = report["confusion_matrix"]
    assert sum(map(sum, cm["matrix"])) == report["n_spectra"]
    text = run("train", "--element", "Fe", "--target", "cn", "--backend", "lightgbm", "--cv", "3",
               "--params", '{"n_estimators": 40}', "--out", tmp_path / "t.lmm")
    assert text.returncode == 0, text.stderr
    shown = re.search(r"tempered out of sample (\d\.\d+); temperature stored in the model (\d+\.\d+)", text.stdout)
    assert shown, text.stdout
    assert float(shown[1]) == pytest.approx(report["brier_calibrated"], abs=0.01)
    assert float(shown[2]) == pytest.approx(report["temperature"], rel=0.1)


def test_predict_json_shape(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    f = tmp_path / "s.dat"
    write_measured_like(f, fe_sites[0])
    r = run("predict", f, "--model", path, "--target", "cn", "--json")
    assert r.returncode == 0, r.stderr
    (res,) = json.loads(r.stdout)
    for key in ("file", "group", "element", "edge", "e0", "cn", "cn_probabilities", "in_domain", "warnings"):
        assert key in res


@pytest.mark.parametrize("args, message", [
    (["predict", "nofile.dat", "--element", "Fe"], "no such file"),
    (["explain", ".", "--element", "Fe", "--target", "cn"], "a folder with no spectrum files in it"),
    (["train", "--element", "Xx", "--target", "cn", "--out", "x.lmm"], "Xx"),
    (["train", "--element", "Fe", "--target", "cn", "--backend", "nope", "--out", "x.lmm"], "unknown backend"),
    (["db", "info", "--db", "/etc/hostname"], "not a readable larch_motif database"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, args, message):
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_predict_reads_the_spectrum_files_of_a_folder_and_leaves_its_documents(tmp_path, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    folder = tmp_path / "beamtime"
    folder.mkdir()
    for name, site in (("b_scan.xmu", fe_sites[1]), ("a_scan.dat", fe_sites[0])):
        write_measured_like(folder / name, site)
    (folder / "README.md").write_text("# what was measured\n")
    (folder / "labels.json").write_text("{}")
    (folder / ".hidden.dat").write_text("junk")
    (folder / "sub").mkdir()
    r = run("predict", folder, "--model", path, "--target", "cn", "--json")
    assert r.returncode == 0, r.stderr
    assert [Path(res["file"]).name for res in json.loads(r.stdout)] == ["a_scan.dat", "b_scan.xmu"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.md").write_text("nothing measured")
    r = run("predict", empty, "--model", path)
    assert r.returncode == 2 and "a folder with no spectrum files in it" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_predict_with_a_foreign_model_file_fails_cleanly(tmp_path, fe_sites):
    f = tmp_path / "s.dat"
    write_measured_like(f, fe_sites[0])
    bad = tmp_path / "bad.lmm"
    bad.write_text("not a model")
    r = run("predict", f, "--model", bad)
    assert r.returncode == 2 and "not a larch_motif model file" in r.stderr


def test_backends_lists_the_builtins_with_their_origin():
    r = run("backends", "--json")
    assert r.returncode == 0
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert {"rf", "xgboost", "lightgbm"} <= set(rows)
    assert all(rows[b]["builtin"] for b in ("rf", "xgboost", "lightgbm"))


def test_a_backend_installed_through_the_entry_point_group_is_used_end_to_end(tmp_path):
    """Install the ExtraTrees test plugin (a real pip install into a folder on PYTHONPATH),
    then list it and train with --backend extratrees: the core is not touched."""
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--quiet",
         "--target", str(target), str(ROOT / "tests" / "plugin_pkg")],
        capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    listing = run("backends", "--json", env=env)
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    assert rows["extratrees"]["builtin"] is False
    assert rows["extratrees"]["distribution"].replace("-", "_") == "larch_motif_extratrees"
    out = tmp_path / "et.lmm"
    r = run("train", "--element", "Fe", "--target", "cn", "--backend", "extratrees", "--cv", "3",
            "--out", out, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backend"] == "extratrees"
    assert json.loads(r.stdout)["accuracy"] > 0.5
