"""The reconstruction model: parametric series with the real FEFF10 on tiny clusters, the
surrogate (structural parameters -> spectrum), bad parameters, SHAP additivity, the fit of a
spectrum, the command line and the Larch command."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from larch_motif.calculators import CalculationParameters
from larch_motif.errors import DatabaseError, LarchMotifError, ModelFileError
from larch_motif.parametric import (
    design_points,
    distorted_cluster,
    parametric_database_path,
    parametric_series,
    reference_site,
)
from larch_motif.reconstruction import (
    ReconstructionModel,
    fit_structure,
    load_reconstruction_model,
    train_reconstruction,
)

TINY = CalculationParameters(cluster_radius_A=3.0, fms_radius_A=2.6, xanes_kmax_invA=4.0, timeout_s=120)
CLI = [sys.executable, "-m", "larch_motif.cli"]


@pytest.fixture(scope="module")
def tiny_series(tmp_path_factory) -> Path:
    """Two design points of the chromite T:4 series (Fe and 4 O), computed with FEFF10."""
    from larch_motif.parametric import build_parametric

    db = tmp_path_factory.mktemp("parametric") / "tiny.sqlite"
    report = build_parametric("Fe", "T:4", 2, db, params=TINY, workers=1, progress=False)
    assert (report.sites_new, report.sites_failed) == (2, 0)
    return db


@pytest.fixture(scope="module")
def o6_model(tmp_path_factory) -> tuple[Path, ReconstructionModel]:
    """A LightGBM reconstruction model of the bundled hematite O:6 series, saved and reloaded."""
    path = tmp_path_factory.mktemp("models") / "fe_o6.lmr"
    train_reconstruction("Fe", "O:6", "lightgbm", db=parametric_database_path(),
                         backend_params={"n_estimators": 150}, out=path)
    return path, load_reconstruction_model(path)


def _params(model: ReconstructionModel, **changes: float) -> dict[str, float]:
    """Mid-range values of every parameter, with ``changes``."""
    return {**{p.name: (p.low + p.high) / 2 for p in model.parameters}, **changes}


def test_distortions_change_the_cluster_as_the_parameters_say():
    ref = reference_site("Fe", "O:6")
    assert ref.name == "hematite" and ref.labels["motif"] == "O:6"
    plain = distorted_cluster(ref, {"bond_mean_A": 2.0, "axial_elongation_A": 0.0, "angle_bending_deg": 0.0,
                                    "second_shell_shift_A": 0.0})
    varied = distorted_cluster(ref, {"bond_mean_A": 2.1, "axial_elongation_A": 0.12, "angle_bending_deg": 10.0,
                                     "second_shell_shift_A": 0.2})
    first = list(ref.first_shell)
    a, b = ref.axial

    def angle(c, i, j):
        u, v = c.coords_A[i], c.coords_A[j]
        return np.degrees(np.arccos(u @ v / np.linalg.norm(u) / np.linalg.norm(v)))

    r_plain = np.linalg.norm(plain.coords_A, axis=1)
    r_varied = np.linalg.norm(varied.coords_A, axis=1)
    assert r_plain[first].mean() == pytest.approx(2.0) and r_varied[first].mean() == pytest.approx(2.1)
    equatorial = [i for i in first if i not in (a, b)]
    gap = lambda r: r[[a, b]].mean() - r[equatorial].mean()  # noqa: E731
    assert gap(r_varied) - gap(r_plain) == pytest.approx(0.12)
    assert angle(plain, a, b) - angle(varied, a, b) == pytest.approx(10.0, abs=0.5)
    outer = [i for i in range(1, len(ref.symbols)) if i not in first]
    assert np.allclose(r_varied[outer] - r_plain[outer], 0.2)
    assert varied.symbols == ref.symbols


def test_design_is_reproducible_and_a_larger_n_extends_it():
    assert design_points("T:4", 3, seed=1) == design_points("T:4", 5, seed=1)[:3]
    points = design_points("O:6", 50)
    assert all(1.90 <= p["bond_mean_A"] <= 2.20 and 0 <= p["angle_bending_deg"] <= 15 for p in points)
    with pytest.raises(LarchMotifError, match="no parametric design for motif 'X:9'"):
        design_points("X:9", 3)


def test_parametric_series_are_stored_with_parameters_and_measured_descriptors(tiny_series):
    rows = parametric_series(tiny_series, "Fe")
    assert [r["parameters"] for r in rows] == design_points("T:4", 2)
    for r in rows:
        assert r["series"] == "Fe T:4 chromite" and r["cn"] == 4 and r["motif"] == "T:4"
        assert r["bond_mean_A"] == pytest.approx(r["parameters"]["bond_mean_A"], abs=1e-4)
        assert r["energy_eV"].size > 20 and np.ptp(r["mu"]) > 0.5


def test_a_larger_design_computes_only_the_new_point_and_other_designs_are_refused(tiny_series):
    from larch_motif.parametric import build_parametric

    report = build_parametric("Fe", "T:4", 3, tiny_series, params=TINY, workers=1, progress=False)
    assert (report.sites_new, report.sites_failed) == (1, 0)
    with pytest.raises(DatabaseError, match="with another design"):
        build_parametric("Fe", "T:4", 3, tiny_series, seed=7, params=TINY, workers=1, progress=False)


def test_a_structure_database_file_is_refused_for_parametric_series(tmp_path):
    from larch_motif.database import SpectralDatabase
    from larch_motif.parametric import build_parametric

    db = tmp_path / "structures.sqlite"
    with SpectralDatabase(db, writable=True) as store:
        store.write_structure({"structure_id": "amcsd:1", "element": "Fe", "edge": "K", "source": "amcsd",
                               "status": "done"})
        store.commit()
        store.finalize()
    before = db.read_bytes()
    with pytest.raises(DatabaseError, match="holds a structure database of Fe K"):
        build_parametric("Fe", "T:4", 2, db, params=TINY, workers=1, progress=False)
    assert db.read_bytes() == before


def test_model_from_feff_series_round_trips_and_reconstructs(tiny_series, tmp_path):
    path = tmp_path / "tiny.lmr"
    model = train_reconstruction("Fe", "T:4", "rf", db=tiny_series, n_components=2,
                                 backend_params={"n_estimators": 20}, out=path)
    loaded = load_reconstruction_model(path)
    x = loaded.training_X
    assert np.allclose(model.predict(x), loaded.predict(x))
    res = loaded.reconstruct({p.name: float(v) for p, v in zip(loaded.parameters, x[0])})
    assert len(res["energy"]) == len(res["mu"]) == loaded.preprocessing.grid().size
    assert res["in_range"] and res["warnings"] == []
    assert res["energy"][0] == -8.0 and res["energy"][-1] == 60.0


def test_reconstruction_model_file_is_checked(o6_model, tmp_path):
    import zipfile

    path, _ = o6_model
    bad = tmp_path / "bad.lmr"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data + b" " if item.filename == "components.npy" else data)
    with pytest.raises(ModelFileError, match="checksum mismatch in components.npy"):
        load_reconstruction_model(bad)
    from larch_motif.models import load_model

    with pytest.raises(ModelFileError, match="a larch_motif-reconstruction file, not a larch_motif-model"):
        load_model(path)


def test_bad_parameters_are_named_with_their_trained_range(o6_model):
    _, model = o6_model
    good = _params(model)
    with pytest.raises(LarchMotifError, match=r"unknown parameter 'bond_length'.*bond_mean_A \(trained range 1.9"):
        model.reconstruct({**good, "bond_length": 2.0})
    missing = {k: v for k, v in good.items() if k != "angle_bending_deg"}
    with pytest.raises(LarchMotifError, match=r"missing parameter angle_bending_deg \(trained range 0.* degree\)"):
        model.reconstruct(missing)
    with pytest.raises(LarchMotifError, match="bond_mean_A 'long' is not a number"):
        model.reconstruct({**good, "bond_mean_A": "long"})
    res = model.reconstruct({**good, "bond_mean_A": 2.6})
    assert not res["in_range"] and len(res["mu"]) == model.energy.size
    assert "extrapolation: bond_mean_A = 2.6 is outside the trained range 1.9" in res["warnings"][0]


def test_longer_bonds_move_the_main_peak_towards_the_edge(o6_model):
    from larch_motif.reconstruction import explain_reconstruction

    _, model = o6_model
    expl = explain_reconstruction(model)
    dep = expl["dependence"]["bond_mean_A"]
    # multiple-scattering features sit at k ~ 1/R: longer bonds, lower energies
    assert dep["peak_shift_eV_per_step"] < 0 and "moves the main peak by" in dep["reading"]
    heat = np.array(expl["mean_abs_shap"])
    assert heat.shape == (4, model.energy.size)
    assert int(np.argmax(heat.sum(axis=1))) == model.parameter_names.index("bond_mean_A")


@pytest.mark.parametrize("backend", ["rf", "xgboost", "lightgbm"])
def test_shap_values_add_up_to_the_reconstructed_spectrum(o6_model, backend, tmp_path):
    _, o6 = o6_model
    if backend == "lightgbm":
        model = o6
    else:
        train_reconstruction("Fe", "O:6", backend, db=parametric_database_path(),
                             backend_params={"n_estimators": 40}, out=tmp_path / "m.lmr")
        model = load_reconstruction_model(tmp_path / "m.lmr")
    X = model.training_X[:5]
    values, expected = model.reconstructor.shap_values(X)
    assert values.shape == (5, 4, model.energy.size)
    assert np.abs(expected + values.sum(axis=1) - model.predict(X)).max() < 1e-4


def _surrogate_spectrum(model: ReconstructionModel, params: dict):
    """A normalized spectrum the surrogate itself makes, on an absolute energy axis (eV)."""
    from larch import Group

    x, _ = model.encode(params)
    mu = model.predict(x[None])[0]
    return Group(energy=7112.0 + model.energy, mu=mu, is_normalized=True)


def test_fit_recovers_the_bond_length_of_a_surrogate_spectrum(o6_model, tmp_path):
    from larch_motif.reconstruction import plot_fit

    _, model = o6_model
    truth = _params(model, bond_mean_A=2.10, angle_bending_deg=4.0)
    fit = fit_structure(_surrogate_spectrum(model, truth), model=model, normalized=True)
    assert fit["parameters"]["bond_mean_A"] == pytest.approx(2.10, abs=0.03)
    assert fit["r_factor"] < 1e-3 and fit["uncertainties"]["bond_mean_A"] is not None
    assert set(fit["parameters"]) == set(model.parameter_names)
    plot_fit(fit, tmp_path / "fit.png")
    assert (tmp_path / "fit.png").stat().st_size > 10_000
    with pytest.raises(LarchMotifError, match="unknown parameter 'cn' in fixed"):
        fit_structure(_surrogate_spectrum(model, truth), model=model, normalized=True, fixed={"cn": 6})


def _cli(*args: object):
    import subprocess

    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_cli_reconstruct_json_contract_and_errors(o6_model, tmp_path):
    path, model = o6_model
    params = [f"--param={k}={v}" for k, v in _params(model).items()]
    out = tmp_path / "spectrum.dat"
    r = _cli("reconstruct", "--model", path, *params, "--out", out, "--json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    for key in ("element", "series", "parameters", "energy", "mu", "in_range", "warnings"):
        assert key in res
    assert res["series"] == "Fe O:6 hematite" and res["in_range"]
    table = np.loadtxt(out)
    assert np.allclose(table[:, 1], res["mu"], atol=1e-5)
    r = _cli("reconstruct", "--model", path, *params[:-1], "--json")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "missing parameter second_shell_shift_A (trained range" in r.stderr


def test_larch_command_writes_energy_and_mu_into_a_group(o6_model):
    import larch

    from larch_motif.larch_plugin import INIT_LINE

    path, model = o6_model
    session = larch.Interpreter(writer=io.StringIO())
    session.eval(INIT_LINE)
    args = ", ".join(f"{k}={v!r}" for k, v in _params(model, bond_mean_A=2.5).items())
    session.eval(f"out = motif_reconstruct(model='{path}', {args})")
    assert not session.error
    out = session.symtable.get_symbol("out")
    x, _ = model.encode(_params(model, bond_mean_A=2.5))
    assert np.allclose(out.mu, model.predict(x[None])[0]) and out.energy.shape == out.mu.shape
    assert out.in_range is False and "bond_mean_A" in out.warnings[0]
    session.eval(f"motif_reconstruct(model='{path}', bond_mean_A=2.0)")
    (error,) = session.error
    assert "LarchMotifError: motif_reconstruct: missing parameter axial_elongation_A" in error.get_error()[1]
