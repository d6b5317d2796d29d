"""The Larch shell adapter: motif_* commands in a real Larch interpreter, install-larch, larch -e."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_measured_like

from larch_motif.larch_plugin import INIT_LINE
from larch_motif.prediction import predict

BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "predict_in_larch.lar"


class Session:
    """A Larch interpreter with the start-up line run, its output kept in ``out``."""

    def __init__(self):
        import larch

        self.out = io.StringIO()
        self.larch = larch.Interpreter(writer=self.out)
        self.run(INIT_LINE)

    def run(self, text: str, tmp_path: Path | None = None) -> list[str]:
        """Run Larch code (a script file when ``tmp_path`` is given); returns the error messages."""
        if tmp_path is None:
            self.larch.eval(text)
        else:
            script = tmp_path / "script.lar"
            script.write_text(text)
            self.larch.runfile(str(script))
        errors = [err.get_error()[1] for err in self.larch.error]
        self.larch.show_errors()
        return errors

    def get(self, name: str):
        return self.larch.symtable.get_symbol(name)

    def has(self, name: str) -> bool:
        return self.larch.symtable.has_symbol(name)


@pytest.fixture
def session(tmp_path, monkeypatch):
    from larch import site_config

    monkeypatch.setattr(site_config, "user_larchdir", str(tmp_path / "larchdir"))  # not ~/.larch
    return Session()


@pytest.fixture
def spectrum_file(tmp_path, fe_sites):
    path = tmp_path / "fe_spectrum.dat"
    write_measured_like(path, next(s for s in fe_sites if s["cn"] == 4))
    return path


def _assert_same_prediction(motif, expected: dict) -> None:
    assert motif.cn == expected["cn"]
    assert motif.cn_probabilities == expected["cn_probabilities"]
    assert motif.in_domain == expected["in_domain"]
    assert motif.warnings == expected["warnings"]
    assert motif.e0_half == pytest.approx(expected["e0_half"], abs=1e-9)
    assert motif.domain_distance == expected["domain_distance"]


def test_motif_predict_in_a_script_fills_group_motif_as_predict_does(session, tmp_path, spectrum_file, fe_cn_model):
    model_path, _, _ = fe_cn_model
    errors = session.run(f"dat = read_ascii('{spectrum_file}', labels='energy mu')\n"
                         f"motif_predict(dat, model='{model_path}')\n", tmp_path)
    assert errors == []
    dat = session.get("dat")
    (expected,) = predict(spectrum_file, model=model_path, target="cn")
    _assert_same_prediction(dat.motif, expected)
    assert dat.motif.cn == "4" and dat.motif.element == "Fe"
    assert dat.edge_step == pytest.approx(1.7, rel=0.1)  # pre_edge ran on the group itself
    assert not hasattr(dat, "motif_warnings")


def test_motif_predict_keeps_an_existing_pre_edge(session, spectrum_file, fe_cn_model):
    model_path, _, _ = fe_cn_model
    session.run(f"dat = read_ascii('{spectrum_file}', labels='energy mu')")
    session.run("pre_edge(dat)")
    flat = session.get("dat").flat
    assert session.run(f"motif_predict(dat, model='{model_path}')") == []
    assert session.get("dat").flat is flat


def test_motif_predict_herfd_reads_a_broadened_copy_and_keeps_the_group_s_mu(session, tmp_path,
                                                                            spectrum_file, fe_cn_model):
    model_path, _, _ = fe_cn_model
    session.run(f"dat = read_ascii('{spectrum_file}', labels='energy mu')")
    mu = np.array(session.get("dat").mu)
    assert session.run(f"motif_predict(dat, model='{model_path}', herfd=True)") == []
    dat = session.get("dat")
    (expected,) = predict(spectrum_file, model=model_path, target="cn", herfd=True)
    _assert_same_prediction(dat.motif, expected)
    assert "herfd_broadened" in [f["code"] for f in dat.motif.findings]
    assert np.array_equal(dat.mu, mu)  # the broadened copy is the models', not the group's
    session.run(f"plain = read_ascii('{spectrum_file}', labels='energy mu')")
    session.run("pre_edge(plain)")
    assert np.allclose(dat.flat, session.get("plain").flat)  # the group's own normalization, unbroadened


@pytest.mark.parametrize("imports, call", [
    ("import larch_motif", "larch_motif.predict"),
    ("from larch_motif import predict", "predict"),
])
def test_python_api_in_a_script_gives_the_command_result(session, tmp_path, spectrum_file, fe_cn_model,
                                                         imports, call):
    model_path, _, _ = fe_cn_model
    errors = session.run(f"{imports}\n"
                         f"api = group()\n"
                         f"api.energy, api.mu = read_ascii('{spectrum_file}', labels='energy mu').data\n"
                         f"res = {call}(api, model='{model_path}')[0]\n"
                         f"dat = read_ascii('{spectrum_file}', labels='energy mu')\n"
                         f"motif_predict(dat, model='{model_path}')\n", tmp_path)
    assert errors == []
    _assert_same_prediction(session.get("dat").motif, session.get("res"))


def test_help_shows_the_docstring(session):
    session.run("help(motif_predict)")
    text = session.out.getvalue()
    assert "Coordination number (CN) and coordination motif" in text
    assert "group.motif" in text and "cn_probabilities" in text


def _snapshot(group) -> dict:
    """Every attribute with a copy of its content (arrays, members of subgroups)."""
    def content(value):
        if isinstance(value, np.ndarray):
            return value.copy()
        return dict(vars(value)) if hasattr(value, "__dict__") else None
    return {k: (v, content(v)) for k, v in vars(group).items()}


def _assert_unchanged(group, snapshot: dict) -> None:
    assert vars(group).keys() == snapshot.keys()
    for name, (value, content) in snapshot.items():
        assert getattr(group, name) is value, name
        if isinstance(content, np.ndarray):
            np.testing.assert_array_equal(value, content)
        elif content is not None:
            assert vars(value) == content, name


@pytest.mark.parametrize("setup, call, message", [
    ("g = group(x=1)", "motif_predict(g, model=MODEL)", "the group has no energy and no mu"),
    ("g = read_ascii(RAW)", "motif_predict(g, model=MODEL)", "the group has no energy"),
    ("g = read_ascii(ZN, labels='energy mu')", "motif_predict(g, model=MODEL)", "another element than the model's"),
    ("g = read_ascii(ZN, labels='energy mu'); g.callargs = group(read_ascii={})", "motif_predict(g, model=MODEL)",
     "another element than the model's"),
    ("g = read_ascii(FE, labels='energy mu')", "motif_predict(g, model=MODEL, element='Ni')", "the model is for Fe, not Ni"),
    ("g = read_ascii(ZN, labels='energy mu')", "motif_explain(g, model=MODEL)", "another element than the model's"),
])
def test_bad_input_reports_one_line_and_leaves_the_group_unchanged(session, tmp_path, fe_sites, spectrum_file,
                                                                   fe_cn_model, setup, call, message):
    model_path, _, _ = fe_cn_model
    site = dict(next(s for s in fe_sites if s["cn"] == 6))
    site["energy_eV"] = site["energy_eV"] + 2547.0  # moved to the Zn K edge
    write_measured_like(tmp_path / "zn.dat", site)
    names = {"MODEL": f"'{model_path}'", "RAW": f"'{spectrum_file}'", "FE": f"'{spectrum_file}'",
             "ZN": f"'{tmp_path / 'zn.dat'}'"}
    for key, value in names.items():
        setup, call = setup.replace(key, value), call.replace(key, value)
    assert session.run(setup) == []
    group = session.get("g")
    before = _snapshot(group)
    (error,) = session.run(call)
    command = call.split("(")[0]
    last_line = error.strip().splitlines()[-1]
    assert last_line.startswith(f"LarchMotifError: {command}: ") and message in last_line
    assert "larch_plugin.py" not in error  # no Python traceback for a user error
    _assert_unchanged(group, before)
    assert session.run("after = 1") == [] and session.get("after") == 1  # the session goes on


def test_an_error_stops_the_script_and_larch_try_except_catches_it(session, tmp_path):
    errors = session.run("g = group(x=1)\n"
                         "try:\n"
                         "    motif_predict(g)\n"
                         "except ValueError:\n"
                         "    caught = _sys.last_error.msg\n"
                         "#endtry\n"
                         "motif_predict()\n"
                         "after = 1\n", tmp_path)
    assert "the group has no energy" in session.get("caught")
    assert len(errors) == 1 and "motif_predict: no group given" in errors[0]
    assert not session.has("after")


def test_motif_explain_writes_shap_values_that_add_up_to_the_model_output(session, spectrum_file, fe_cn_model):
    model_path, _, _ = fe_cn_model
    session.run(f"dat = read_ascii('{spectrum_file}', labels='energy mu')")
    assert session.run(f"motif_explain(dat, model='{model_path}')") == []
    expl = session.get("dat").motif_explain
    assert expl.class_name == "4" and expl.target == "cn"
    assert expl.energy.shape == expl.shap_values.shape
    assert expl.expected_value + expl.shap_values.sum() == pytest.approx(expl.model_output, abs=1e-6)
    assert set(expl.regions) == {"pre-edge", "rising edge", "white line", "post-edge"}


@pytest.mark.parametrize("call, message", [
    ("motif_reconstruct(g)", "element must be a name such as 'Fe'"),
    ("motif_train('Fe', backend='nope')", "unknown backend 'nope'"),
    ("motif_train()", "no element given"),
])
def test_commands_report_user_errors_as_larch_errors(session, call, message):
    session.run("g = group(x=1)")
    (error,) = session.run(call)
    assert f"LarchMotifError: {call.split('(')[0]}: " in error and message in error


def test_motif_backends_lists_the_registered_backends(session):
    session.run("names = motif_backends()")
    assert {"rf", "xgboost", "lightgbm"} <= set(session.get("names"))


def test_example_script_prints_the_prediction(session, tmp_path, spectrum_file, fe_cn_model):
    model_path, _, _ = fe_cn_model
    errors = session.run(f"spectrum_file = '{spectrum_file}'\nmodel_file = '{model_path}'\n"
                         f"run('{EXAMPLE}')\n", tmp_path)
    assert errors == []
    assert "CN 4 (p = " in session.out.getvalue()


def _run(args: list[str], larchdir: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "LARCHSTARTUP"}
    env["LARCHDIR"] = str(larchdir)
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=True)


def test_install_larch_adds_one_line_that_every_larch_session_runs(tmp_path):
    larchdir = tmp_path / "larchdir"
    larchdir.mkdir()
    init = larchdir / "init.lar"
    own = "# my start-up\nmy_setting = 1\n"
    init.write_text(own)
    first = _run([str(BIN / "larch-motif"), "install-larch"], larchdir, tmp_path)
    second = _run([str(BIN / "larch-motif"), "install-larch"], larchdir, tmp_path)
    assert f"added to {init}" in first.stdout and "already in" in second.stdout
    assert init.read_text() == own + INIT_LINE + "\n"

    script = tmp_path / "script.lar"
    script.write_text("print('backends:', motif_backends(), my_setting)\n")
    shell = _run([str(BIN / "larch"), "-q", "-e", str(script)], larchdir, tmp_path)
    assert "backends: ['lightgbm', 'rf', 'xgboost'" in shell.stdout and "Error" not in shell.stdout

    first = _run([str(BIN / "larch-motif"), "uninstall-larch"], larchdir, tmp_path)
    second = _run([str(BIN / "larch-motif"), "uninstall-larch"], larchdir, tmp_path)
    assert f"removed from {init}" in first.stdout and "nothing to do" in second.stdout
    assert init.read_text() == own
