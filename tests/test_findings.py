"""Findings are typed where they are made, and a call with spectra of several elements answers
each from its own element's models."""

from __future__ import annotations

import copy
import json
import pickle
from pathlib import Path

import pytest
from conftest import write_measured_like

from larch_motif.database import open_database
from larch_motif.findings import CODES, Finding, as_dicts, out_of_domain
from larch_motif.prediction import predict


def test_a_finding_is_its_message_with_a_code_that_survives_copies():
    f = Finding("range_too_short", "range too short for the grid: ...")
    assert f == "range too short for the grid: ..." and f.code == "range_too_short" and f.out_of_domain
    for other in (copy.deepcopy(f), pickle.loads(pickle.dumps(f))):
        assert other.code == "range_too_short" and other == f
    assert json.loads(json.dumps([f])) == [str(f)]  # the JSON contract's warnings stay texts
    assert not out_of_domain([Finding("glitch", "glitch at 7110.0 eV"), "a plain text"])
    assert as_dicts(["a plain text"]) == [{"code": "unknown", "message": "a plain text", "out_of_domain": False}]
    with pytest.raises(ValueError, match="unknown finding code"):
        Finding("nonsense", "x")
    assert set(CODES) >= {"range_too_short", "far_from_training", "possibly_metallic", "other_element"}


def test_spectra_of_two_elements_in_one_call_each_get_their_elements_models(tmp_path, fe_sites):
    with open_database(None) as db:
        zn = next(s for s in db.site_spectra("Zn") if s["ligands"] == "O" and s["cn"] == 4)
    fe = next(s for s in fe_sites if s["ligands"] == "O" and s["cn"] == 6)
    files = [tmp_path / "fe.dat", tmp_path / "zn.dat", tmp_path / "fe_again.dat"]
    for path, site in zip(files, (fe, zn, fe)):
        write_measured_like(path, site)
    results = predict(files)
    assert [r["element"] for r in results] == ["Fe", "Zn", "Fe"]
    assert not any(f["code"] == "other_element" for r in results for f in r["findings"])
    for res in results:  # typed findings beside the texts, in the same order
        assert [f["message"] for f in res["findings"]] == res["warnings"]
        assert res["in_domain"] == (not any(f["out_of_domain"] for f in res["findings"]))


def test_every_finding_code_is_in_the_docs_table_with_its_domain_flag():
    text = (Path(__file__).resolve().parents[1] / "docs" / "results.md").read_text()
    for code, out in CODES.items():
        assert f"| `{code}` | {'yes' if out else 'no'} |" in text, code
