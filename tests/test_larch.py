"""Larch shell commands with a real Larch interpreter, and the start-up file installation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_measured_like

from larch_motif.prediction import predict


@pytest.fixture()
def larch_session():
    from larch import Interpreter

    from larch_motif.larch_plugin import _larch_init

    session = Interpreter()
    _larch_init(session)
    return session


def _run(session, script: str) -> None:
    session.eval(script)
    if session.error:
        raise AssertionError(session.error[0].get_error())


def test_motif_predict_fills_the_group_like_pre_edge(tmp_path, larch_session, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    f = tmp_path / "fe.dat"
    write_measured_like(f, next(s for s in fe_sites if s["cn"] == 4))
    _run(larch_session, f"dat = read_ascii('{f}', labels='energy mu')\nmotif_predict(dat, model='{path}', target='cn')")
    dat = larch_session.symtable.get_symbol("dat")
    (expected,) = predict(f, model=path, target="cn")
    assert dat.motif.cn == expected["cn"]
    assert dat.motif.cn_probabilities == expected["cn_probabilities"]
    assert dat.motif.in_domain is True and hasattr(dat, "edge_step")  # pre_edge ran on the group


def test_the_same_through_import_in_a_larch_script(tmp_path, larch_session, fe_sites, fe_cn_model):
    path, _, _ = fe_cn_model
    f = tmp_path / "fe.dat"
    write_measured_like(f, fe_sites[3])
    _run(larch_session, f"import larch_motif\ndat = read_ascii('{f}', labels='energy mu')\n"
                        f"result = larch_motif.predict(dat, model='{path}', target='cn')")
    (res,) = larch_session.symtable.get_symbol("result")
    (expected,) = predict(f, model=path, target="cn")
    assert res["cn"] == expected["cn"]


def test_bad_group_gives_a_larch_error_and_changes_nothing(larch_session):
    larch_session.eval("g = group(x=[1, 2, 3])\nmotif_predict(g)")
    assert larch_session.error and "has no energy and mu" in larch_session.error[0].get_error()[1]
    assert not hasattr(larch_session.symtable.get_symbol("g"), "motif")


def test_install_and_uninstall_larch_are_idempotent_and_the_shell_sees_the_commands(tmp_path):
    env = {**os.environ, "LARCHDIR": str(tmp_path / "larchdir")}
    cli = [sys.executable, "-m", "larch_motif.cli"]
    for _ in range(2):
        r = subprocess.run([*cli, "install-larch"], capture_output=True, text=True, env=env, check=True)
    init = tmp_path / "larchdir" / "init.lar"
    assert init.read_text().count("larch_motif.larch_plugin._larch_init") == 1 and len(init.read_text().splitlines()) == 1
    assert "already in" in r.stdout
    script = tmp_path / "s.lar"
    script.write_text("print(motif_backends())\n")
    larch = Path(sys.executable).parent / "larch"
    out = subprocess.run([str(larch), "-e", str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert "'rf'" in out.stdout and "'xgboost'" in out.stdout, out.stdout + out.stderr
    for _ in range(2):
        subprocess.run([*cli, "uninstall-larch"], capture_output=True, text=True, env=env, check=True)
    assert "larch_motif" not in init.read_text()
