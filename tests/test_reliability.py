"""Reliability under faults, with the real FEFF10 on tiny clusters: a build killed with SIGKILL
ten times in a row, concurrent builds, truncated database files, FEFF10 calculations that crash,
time out or write no xmu.dat, --retry-failed; batched predictions and the Larch command on
many groups."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from larch_motif.build import build_database, failure_reason
from larch_motif.calculators import CalculationParameters
from larch_motif.database import SpectralDatabase
from larch_motif.errors import DatabaseError
from larch_motif.hookspecs import hookimpl

TINY = CalculationParameters(cluster_radius_A=3.0, fms_radius_A=2.6, xanes_kmax_invA=4.0, timeout_s=120)
TINY_FLAGS = ["--cluster-radius", "3.0", "--fms-radius", "2.6", "--kmax", "4.0"]
MINERALS = ("hematite", "magnetite", "chromite")
CLI = [sys.executable, "-m", "larch_motif.cli"]


@pytest.fixture(scope="module")
def cif_folder(tmp_path_factory) -> Path:
    from larixite.amcsd import AMCSD

    folder = tmp_path_factory.mktemp("cifs")
    amcsd = AMCSD(read_only=True)
    for mineral in MINERALS:
        (folder / f"{mineral}.cif").write_text(amcsd.find_cifs(mineral_name=mineral)[0].ciftext)
    return folder


@pytest.fixture(scope="module")
def reference_db(tmp_path_factory, cif_folder) -> Path:
    """The uninterrupted build: 4 Fe sites of 3 minerals."""
    db = tmp_path_factory.mktemp("ref") / "reference.sqlite"
    report = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False)
    # a transient failure here would otherwise show up later as a bare "sites" key mismatch
    assert report.sites_failed == 0 and not report.failures, f"reference build: {report}"
    return db


def _content(db: Path) -> dict:
    """Everything a model sees: per site labels, energy and mu; per compound the same."""
    with SpectralDatabase(db) as store:
        sites = {s["site_id"]: (s["cn"], s["motif"], s["multiplicity"], s["energy_eV"], s["mu"])
                 for s in store.site_spectra("Fe")}
        compounds = {c["structure_id"]: (c["cn_mean"], c["motif_fractions"], c["energy_eV"], c["mu"])
                     for c in store.compound_spectra("Fe")}
    return {"sites": sites, "compounds": compounds}


def _statuses(db: Path) -> dict:
    """status, failure reason and error of every site (what a key mismatch needs to be read)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {r[0]: r[1:] for r in con.execute("SELECT site_id, status, failure_reason, error FROM sites")}
    finally:
        con.close()


def _assert_same_content(db: Path, reference: Path, context: str = "") -> None:
    got, want = _content(db), _content(reference)
    for part in ("sites", "compounds"):
        assert got[part].keys() == want[part].keys(), (
            f"{context}{part}: got {sorted(got[part])}, want {sorted(want[part])}; "
            f"sites of this file {_statuses(db)}; of the reference {_statuses(reference)}")
        for key, values in want[part].items():
            *labels, energy, mu = values
            assert list(got[part][key][:-2]) == labels, key
            np.testing.assert_allclose(got[part][key][-2], energy, atol=1e-3)
            np.testing.assert_allclose(got[part][key][-1], mu, atol=1e-6)


def _build_cmd(source: Path, db: Path, *extra: str) -> list[str]:
    return [*CLI, "db", "build", "--element", "Fe", "--source", str(source), "--db", str(db),
            "--quiet", *TINY_FLAGS, *extra]


def _lock_is_free(db: Path) -> bool:
    fd = os.open(str(db) + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _sites_done(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT COUNT(*) FROM sites WHERE status='done'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


# -- database: SIGKILL, concurrency, truncation ---------------------------------------------

@pytest.mark.feff
def test_build_killed_ten_times_at_random_moments_resumes_to_the_uninterrupted_content(
        tmp_path, cif_folder, reference_db):
    """Only the build process is killed (as the kernel's OOM killer does): its orphaned workers
    must not keep the lock, and every resume must find a readable file."""
    db = tmp_path / "killed.sqlite"
    seed = int(os.environ.get("LARCH_MOTIF_KILL_SEED", time.time_ns() % 10_000))
    rng = random.Random(seed)
    print(f"\nkill seed {seed} (rerun: LARCH_MOTIF_KILL_SEED={seed})")  # shown by pytest on failure
    history = []
    for _ in range(10):
        # one worker: a build from scratch takes about 7 s, so kills land in start-up, structure
        # preparation, FEFF10 runs and commits alike
        proc = subprocess.Popen(_build_cmd(cif_folder, db, "--workers", "1"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        delay = rng.uniform(0.3, 6.0)
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            os.kill(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
        # 0 also where the build ended between poll() and the kill
        assert proc.returncode in (0, -signal.SIGKILL), \
            f"seed {seed}: build ended with {proc.returncode} ({'before' if finished else 'at'} the kill): {stderr!r}"
        assert b"being built" not in stderr, f"seed {seed}: a killed build kept the lock: {stderr!r}"
        deadline = time.monotonic() + 15
        while not _lock_is_free(db) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _lock_is_free(db), f"seed {seed}: the lock outlived the killed build (orphaned workers)"
        if db.exists():
            with SpectralDatabase(db) as store:  # readable after every kill
                store.info()
        history.append((round(delay, 2), _sites_done(db)))
    r = subprocess.run(_build_cmd(cif_folder, db), capture_output=True, text=True, timeout=300)
    print(f"kill seed {seed}: (seconds before SIGKILL, sites done) {history}")
    assert r.returncode == 0, f"seed {seed}: the resumed build failed: {r.stderr}"
    _assert_same_content(db, reference_db, f"seed {seed}, history {history}, resumed build: {r.stdout!r}: ")


@pytest.mark.feff
def test_second_build_while_one_runs_is_refused_and_the_first_completes(tmp_path, cif_folder, reference_db):
    db = tmp_path / "busy.sqlite"
    first = subprocess.Popen(_build_cmd(cif_folder, db, "--workers", "1"), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _lock_is_free(db) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.poll() is None, "the first build ended before the second could start"
    with pytest.raises(DatabaseError, match=f"is being built by pid {first.pid}"):
        build_database("Fe", db=db, source=cif_folder, params=TINY, workers=1, progress=False)
    second = subprocess.run(_build_cmd(cif_folder, db), capture_output=True, text=True, timeout=120)
    assert second.returncode == 2 and f"is being built by pid {first.pid}" in second.stderr
    assert first.wait(timeout=300) == 0, first.stderr.read()
    _assert_same_content(db, reference_db)


@pytest.mark.feff
def test_two_builds_started_together_on_a_new_file_never_interleave(tmp_path, cif_folder, reference_db):
    db = tmp_path / "together.sqlite"
    procs = [subprocess.Popen(_build_cmd(cif_folder, db, "--workers", "1"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = sorted(rc for rc, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    for rc, _, err in results:
        assert rc == 0 or ("is being built by pid" in err and len(err.strip().splitlines()) == 1)
    computed = sum(int(out.split(" new ")[0].rsplit(" ", 1)[-1]) for rc, out, _ in results if rc == 0)
    assert computed == 4  # each site computed once: no build repeated the other's work
    _assert_same_content(db, reference_db)


@pytest.mark.feff
@pytest.mark.parametrize("fraction", [0.01, 0.3, 0.5, 0.8, 0.97, "last page"])
def test_truncated_database_is_refused_not_half_read(tmp_path, reference_db, fraction):
    data = reference_db.read_bytes()
    page = 4096
    size = len(data) - page if fraction == "last page" else int(len(data) * fraction)
    path = tmp_path / "truncated.sqlite"
    path.write_bytes(data[:size])
    with pytest.raises(DatabaseError, match="not a readable larch_motif database|corrupted or truncated"):
        with SpectralDatabase(path) as db:
            db.site_spectra("Fe")
            db.compound_spectra("Fe")
            db.info()


# -- FEFF10 faults -----------------------------------------------------------------------------

class FaultyFeff10:
    """A calculator plugin for the test: the real FEFF10, with real faults on chosen sites.

    The file named by ``LARCH_MOTIF_FAULTS`` maps a site-id substring to a fault: ``crash``
    (an O atom moved to 0.05 A of the absorber: FEFF10's pot stage exits with an error),
    ``hang`` (SCF on: the pot stage runs past a 1 s timeout and is stopped), ``no_xmu``
    (FEFF10 runs, then its xmu.dat is removed), ``die`` (the worker process is killed, as by the
    OOM killer or a segfault). Every call is logged to ``LARCH_MOTIF_CALLS``.
    """

    name = "feff10-faulty"

    def __init__(self) -> None:
        from larch_motif.plugins.feff10_calculator import Feff10Calculator

        outer = self

        class Calculator(Feff10Calculator):
            name = outer.name

            def calculate(self, cluster, params):
                with open(os.environ["LARCH_MOTIF_CALLS"], "a") as log:
                    log.write(cluster.title + "\n")
                fault = outer.fault_of(cluster.title)
                if fault == "crash":
                    coords = cluster.coords_A.copy()
                    coords[1] = [0.05, 0.0, 0.0]
                    cluster = dataclasses.replace(cluster, coords_A=coords)
                elif fault == "hang":
                    params = dataclasses.replace(params, scf_radius_A=3.5, timeout_s=1.0)
                elif fault == "die":
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().calculate(cluster, params)

            def run_feff(self, feff10, workdir, cluster, params, scf_loop=None):
                result = super().run_feff(feff10, workdir, cluster, params, scf_loop)
                if outer.fault_of(cluster.title) == "no_xmu":
                    os.remove(os.path.join(workdir, "xmu.dat"))
                return result

        self.calculator = Calculator()
        self.version = self.calculator.version

    @staticmethod
    def fault_of(site_id: str) -> str | None:
        path = os.environ.get("LARCH_MOTIF_FAULTS", "")
        if not os.path.exists(path):
            return None
        faults = json.loads(Path(path).read_text())
        return next((kind for key, kind in faults.items() if key in site_id), None)

    def calculate(self, cluster, params):
        return self.calculator.calculate(cluster, params)

    @hookimpl
    def larch_motif_spectrum_calculators(self) -> list:
        return [self]


@pytest.fixture
def faulty_calculator(tmp_path, monkeypatch):
    from larch_motif.plugins import pm

    faults, calls = tmp_path / "faults.json", tmp_path / "calls.log"
    calls.write_text("")
    monkeypatch.setenv("LARCH_MOTIF_FAULTS", str(faults))
    monkeypatch.setenv("LARCH_MOTIF_CALLS", str(calls))
    plugin = FaultyFeff10()
    pm.register(plugin, name="test_faulty_feff10")
    yield faults, calls
    pm.unregister(name="test_faulty_feff10")


def _sites(db: Path) -> dict[str, sqlite3.Row]:
    with SpectralDatabase(db) as store:
        rows = store.conn.execute("SELECT site_id, status, failure_reason, error FROM sites").fetchall()
    return {r["site_id"]: dict(r) for r in rows}


@pytest.mark.feff
def test_feff10_crash_timeout_and_missing_xmu_are_recorded_and_retried(tmp_path, cif_folder, reference_db,
                                                                       faulty_calculator):
    faults, calls = faulty_calculator
    magnetite = sorted(s for s in _sites(reference_db) if "magnetite" in s)
    faults.write_text(json.dumps({"hematite": "no_xmu", magnetite[0]: "crash", magnetite[1]: "hang"}))
    db = tmp_path / "faults.sqlite"
    t0 = time.monotonic()
    report = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False,
                            calculator="feff10-faulty")
    seconds = time.monotonic() - t0
    sites = _sites(db)
    chromite = next(s for s in sites if "chromite" in s)
    hematite = next(s for s in sites if "hematite" in s)
    assert sites[chromite]["status"] == "done"  # the build went on past the failures
    assert report.sites_new == 1 and report.sites_failed == 3
    assert sites[hematite]["failure_reason"] == "FEFF10 wrote no spectrum"
    assert sites[hematite]["error"] == "FEFF10 wrote no xmu.dat"
    crash, hang = sites[magnetite[0]], sites[magnetite[1]]
    assert crash["failure_reason"] == "FEFF10 failed" and "stage 'pot' failed (exit code" in crash["error"]
    assert hang["failure_reason"] == "timeout" and "timeout after 1 s per stage" in hang["error"]
    assert seconds < 60  # the timed-out stage was stopped, not waited for
    with SpectralDatabase(db) as store:
        assert store.info()["elements"]["Fe"]["failures"] == {
            "FEFF10 wrote no spectrum": 1, "FEFF10 failed": 1, "timeout": 1}

    calls.write_text("")
    again = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False,
                           calculator="feff10-faulty")
    assert again.sites_new == 0 and calls.read_text() == ""  # failures are kept, not silently re-run

    faults.unlink()  # the faults are gone: a retry computes the three failed sites, only those
    retried = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False,
                             calculator="feff10-faulty", retry_failed=True)
    assert retried.sites_new == 3 and retried.sites_failed == 0
    assert sorted(calls.read_text().split()) == sorted([hematite, *magnetite])
    assert all(s["status"] == "done" and s["error"] is None for s in _sites(db).values())
    _assert_same_content(db, reference_db)


@pytest.mark.feff
def test_a_calculation_that_kills_its_worker_fails_alone_and_the_build_goes_on(
        tmp_path, cif_folder, reference_db, faulty_calculator):
    faults, calls = faulty_calculator
    faults.write_text(json.dumps({"hematite": "die"}))
    db = tmp_path / "die.sqlite"
    report = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False,
                            calculator="feff10-faulty")
    sites = _sites(db)
    hematite = next(s for s in sites if "hematite" in s)
    assert sites[hematite]["status"] == "failed" and sites[hematite]["failure_reason"] == "worker lost"
    assert "ended its worker process" in sites[hematite]["error"]
    assert report.sites_new == 3 and report.sites_failed == 1  # the others were not lost with it
    assert all(sites[s]["status"] == "done" for s in sites if s != hematite)
    faults.unlink()
    retried = build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False,
                             calculator="feff10-faulty", retry_failed=True)
    assert retried.sites_new == 1
    _assert_same_content(db, reference_db)


@pytest.mark.feff
def test_work_folders_of_killed_feff10_runs_are_removed(tmp_path, monkeypatch):
    import tempfile

    import larch_motif.plugins.feff10_calculator as feff_plugin
    from larch_motif.calculators import Cluster, get_calculator

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(feff_plugin, "_swept_stale_workdirs", False)
    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f"{feff_plugin.WORKDIR_PREFIX}{gone.pid}_abc"
    in_use = tmp_path / f"{feff_plugin.WORKDIR_PREFIX}{os.getppid()}_def"
    for folder in (stale, in_use):
        folder.mkdir()
        (folder / "phase.bin").write_bytes(b"x" * 1000)
    cluster = Cluster(("Fe", "O", "O", "O", "O", "O", "O"), 2.0 * np.array(
        [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], float), "FeO6")
    spectrum = get_calculator("feff10").calculate(cluster, TINY)
    assert spectrum.energy_eV.size > 20
    assert not stale.exists() and in_use.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [in_use.name]  # its own folder removed too


@pytest.mark.feff
def test_cli_stage_past_its_timeout_fails_and_retry_failed_recomputes_it(tmp_path, cif_folder):
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "chromite.cif").write_text((cif_folder / "chromite.cif").read_text())
    db = tmp_path / "timeout.sqlite"
    scf = ["--workers", "1", "--scf-radius", "3.5"]  # SCF: the pot stage takes several seconds
    r = subprocess.run(_build_cmd(folder, db, *scf, "--timeout", "1"), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "0 new Fe K site spectra, 1 failed" in r.stdout and "failed: timeout: 1" in r.stdout
    (site,) = _sites(db).values()
    assert site["status"] == "failed" and "timeout after 1 s per stage: stage 'pot'" in site["error"]
    r = subprocess.run(_build_cmd(folder, db, *scf, "--retry-failed"), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "1 new Fe K site spectra, 0 failed" in r.stdout
    (site,) = _sites(db).values()
    assert site["status"] == "done" and site["error"] is None


def test_timeout_below_one_second_is_refused_as_a_user_error(tmp_path, cif_folder):
    r = subprocess.run(_build_cmd(cif_folder, tmp_path / "x.sqlite", "--timeout", "0.5"),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "timeout_s must be at least 1 s" in r.stderr
    assert "Traceback" not in r.stderr


# -- predictions: nonsense flagged, batches, many files, many Larch groups -------------------

def _random_walks(n: int, seed: int = 0):
    """Random walks on an Fe K-edge energy grid: pure, drifting, and a step buried in drift."""
    from larch import Group

    rng = np.random.default_rng(seed)
    for k in range(n):
        energy = np.linspace(7000, 7300, 400)
        kind = k % 3
        if kind == 0:
            mu = np.cumsum(rng.normal(0, 1, energy.size))
        elif kind == 1:
            mu = np.cumsum(rng.normal(0.05, 0.2, energy.size))
        else:
            mu = 1 / (1 + np.exp(-(energy - 7120) / 2)) + np.cumsum(rng.normal(0, 0.05, energy.size))
        yield Group(energy=energy, mu=mu, groupname=f"walk{k}")


def test_random_walk_spectra_are_refused_or_flagged_never_a_silent_class(fe_cn_model):
    from larch_motif.prediction import predict_iter

    path, _, _ = fe_cn_model
    results = list(predict_iter(_random_walks(150), model=path, errors="flag", batch_size=50))
    assert len(results) == 150
    silent = [r for r in results if r["in_domain"]]
    assert silent == [], f"{len(silent)} random walks got a class in domain: {silent[:2]}"
    flagged = [r for r in results if "error" not in r]
    assert flagged and all(r["warnings"] for r in flagged)
    assert all(r["error"] for r in results if "error" in r)


def test_noisy_measured_like_spectra_stay_in_domain(tmp_path, fe_sites, fe_cn_model):
    from conftest import write_measured_like

    from larch_motif.prediction import predict

    path, _, _ = fe_cn_model
    files = []
    for k, site in enumerate(s for s in fe_sites if s["cn"] in (4, 6)):
        if k == 6:
            break
        files.append(tmp_path / f"s{k}.dat")
        write_measured_like(files[-1], site, noise=0.01, seed=k)
    results = predict(files, model=path, target="cn")
    assert not any(w.startswith("pre-edge not a smooth line") for r in results for w in r["warnings"])


def test_predict_iter_reads_spectra_batch_by_batch(fe_sites, fe_cn_model):
    from larch import Group

    from larch_motif.prediction import predict_iter
    from larch_motif.spectra import broaden

    path, _, _ = fe_cn_model
    drawn = []

    def spectra():
        for k in range(12):
            site = fe_sites[k]
            drawn.append(k)
            yield Group(energy=site["energy_eV"], mu=broaden(site["energy_eV"], site["mu"], 1.5, 1.0))

    results = predict_iter(spectra(), model=path, batch_size=4)
    first = next(results)
    assert len(drawn) == 4  # one batch read, not everything
    rest = list(results)
    assert len(drawn) == 12 and len(rest) == 11 and "cn" in first


def test_predict_iter_flags_a_bad_spectrum_and_goes_on(tmp_path, fe_sites, fe_cn_model):
    from conftest import write_measured_like

    from larch_motif.errors import SpectrumError
    from larch_motif.prediction import predict_iter

    path, _, _ = fe_cn_model
    good = tmp_path / "good.dat"
    write_measured_like(good, fe_sites[0])
    bad = tmp_path / "bad.dat"
    bad.write_text("\n".join(f"{7000 + i} 1.0" for i in range(30)))
    results = list(predict_iter([good, bad, good], model=path, errors="flag", batch_size=2))
    assert [("error" in r) for r in results] == [False, True, False]
    assert "constant" in results[1]["error"] and results[1]["in_domain"] is False
    with pytest.raises(SpectrumError, match="constant"):
        list(predict_iter([good, bad], model=path))


def test_cli_predict_on_many_files_reports_a_bad_one_and_predicts_the_rest(tmp_path, fe_sites, fe_cn_model):
    from conftest import write_measured_like

    path, _, _ = fe_cn_model
    files = []
    for k in range(3):
        files.append(tmp_path / f"s{k}.dat")
        write_measured_like(files[-1], fe_sites[k])
    junk = tmp_path / "junk.dat"
    junk.write_bytes(os.urandom(3000).replace(b"\x00", b"\x01"))
    r = subprocess.run([*CLI, "predict", str(files[0]), str(junk), *map(str, files[1:]), "--model", str(path),
                        "--json"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    results = json.loads(r.stdout)
    assert [res["file"] for res in results] == [str(files[0]), str(junk), *map(str, files[1:])]
    assert "error" in results[1] and all("cn" in results[k] for k in (0, 2, 3))
    assert r.stderr.count("larch-motif: error:") == 1 and "Traceback" not in r.stderr


def test_motif_predict_on_a_list_of_groups_in_a_larch_session(tmp_path, monkeypatch, fe_sites, fe_cn_model):
    import io

    import larch
    from conftest import write_measured_like
    from larch import site_config

    from larch_motif.larch_plugin import INIT_LINE
    from larch_motif.prediction import predict

    monkeypatch.setattr(site_config, "user_larchdir", str(tmp_path / "larchdir"))
    path, _, _ = fe_cn_model
    files = []
    for k in range(3):
        files.append(tmp_path / f"s{k}.dat")
        write_measured_like(files[-1], fe_sites[k])
    (tmp_path / "flat.dat").write_text("\n".join(f"{7000 + i} 1.0" for i in range(30)))
    session = larch.Interpreter(writer=io.StringIO())
    session.eval(INIT_LINE)
    script = "\n".join([f"g{k} = read_ascii('{f}', labels='energy mu')" for k, f in enumerate(files)]
                       + [f"bad = read_ascii('{tmp_path / 'flat.dat'}', labels='energy mu')",
                          f"motif_predict([g0, bad, g1, g2], model='{path}')"])
    (tmp_path / "many.lar").write_text(script)
    session.runfile(str(tmp_path / "many.lar"))
    assert [err.get_error()[1] for err in session.error] == []
    expected = predict(files, model=path, target="cn")
    for k, want in enumerate(expected):
        motif = session.symtable.get_symbol(f"g{k}.motif")
        assert motif.cn == want["cn"] and motif.cn_probabilities == want["cn_probabilities"]
        assert session.symtable.get_symbol(f"g{k}.e0") == pytest.approx(want["e0"])
    bad = session.symtable.get_symbol("bad")
    assert bad.motif.in_domain is False and "constant" in bad.motif.error
    assert not hasattr(bad, "e0")  # left as it was


# -- model files from others ---------------------------------------------------------------------

def test_a_skops_model_naming_a_function_outside_the_allow_list_is_refused(tmp_path, fe_cn_model):
    """A well-formed skops archive whose estimator references os.system: refused before loading."""
    import hashlib
    import zipfile

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    from larch_motif.errors import ModelFileError
    from larch_motif.models import load_model

    marker = tmp_path / "pwned"
    payload = sio.dumps(FunctionTransformer(func=os.system, kw_args={"command": f"touch {marker}"}))
    path, _, _ = fe_cn_model
    evil = tmp_path / "evil.lmm"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        meta = json.loads(src.read("metadata.json"))
        meta["sha256"]["estimator.bin"] = hashlib.sha256(payload).hexdigest()  # hashes agree
        dst.writestr("metadata.json", json.dumps(meta))
        dst.writestr("estimator.bin", payload)
        dst.writestr("training_features.npy", src.read("training_features.npy"))
    with pytest.raises(ModelFileError, match="outside the allow-list: .*system"):
        load_model(evil)
    assert not marker.exists()


def _bundled_cluster(site_id: str, element: str, radius_A: float):
    """The atoms of a bundled site's cluster within ``radius_A`` (Angstrom) of the absorber."""
    from larch_motif.calculators import Cluster
    from larch_motif.database import open_database

    with open_database(None) as db:
        (cluster_json,) = db.conn.execute(
            "SELECT cluster FROM sites WHERE site_id = ? AND element = ?", (site_id, element)).fetchone()
    data = json.loads(cluster_json)
    coords = np.array(data["coords_A"])
    keep = np.linalg.norm(coords, axis=1) <= radius_A
    return Cluster(tuple(np.array(data["symbols"])[keep]), coords[keep], title=site_id)


@pytest.mark.feff
def test_scf_bad_counts_is_retried_with_smaller_mixing_and_recorded():
    """A real Cu site (AMCSD 12820, 4.5 A of its bundled cluster) whose SCF 3 A loop stops on
    "bad counts" at FEFF's default mixing: the retry with the smaller mixing gives its
    spectrum and says so in calculator_version."""
    from larch_motif.plugins import feff10_calculator as fc

    cluster = _bundled_cluster("amcsd:12820#0", "Cu", 4.5)
    params = CalculationParameters(edge="K", scf_radius_A=3.0, fms_radius_A=4.0)
    assert "SCF 3.000\n" in fc.feff_input_text(cluster, params)
    assert "SCF 3.000 0 30 0.05 1\n" in fc.feff_input_text(cluster, params, fc.SCF_RETRIES[0])
    assert "SCF 3.000 0 100 0.05 10\n" in fc.feff_input_text(cluster, params, fc.SCF_RETRIES[1])
    calc = fc.Feff10Calculator()
    import feff10

    with pytest.raises(fc.SCFBadCounts, match="bad electron counts"):
        calc._xanes(feff10, cluster, params, None)
    spectrum = calc.calculate(cluster, params)
    assert spectrum.calculator_version.endswith("; SCF mixing 0.05 after bad counts at 0.2")
    assert np.all(np.isfinite(spectrum.mu)) and spectrum.energy_eV.size > 50
    assert 0.5 < np.interp(spectrum.energy_eV[0] + 60, spectrum.energy_eV, spectrum.mu) < 1.5
    assert failure_reason("FEFF10 failed: SCF stopped on bad electron counts in the potential "
                          "stage (no pot.bin), also with SCF mixing 0.05") == "FEFF10 SCF bad counts"


@pytest.mark.feff
def test_scf_corval_stop_is_retried_with_smaller_mixing_and_recorded():
    """A real Cr fluoride site (AMCSD 13512, 4.5 A of its bundled cluster) whose SCF 3 A run
    stops with FEFF's "Fatal error in subroutine corval. Try to reduce ca1 in the SCF card" at
    the default mixing: the retry with the smaller mixing, as FEFF advises, gives its spectrum."""
    from larch_motif.plugins import feff10_calculator as fc

    cluster = _bundled_cluster("amcsd:13512#8", "Cr", 4.5)
    params = CalculationParameters(edge="K", scf_radius_A=3.0, fms_radius_A=4.0)
    calc = fc.Feff10Calculator()
    import feff10

    with pytest.raises(fc.SCFBadCounts, match="corval") as stop:
        calc._xanes(feff10, cluster, params, None)
    assert failure_reason(str(stop.value)) == "FEFF10 SCF corval"
    spectrum = calc.calculate(cluster, params)
    assert spectrum.calculator_version.endswith("; SCF mixing 0.05 after corval at 0.2")
    assert np.all(np.isfinite(spectrum.mu)) and spectrum.energy_eV.size > 50
    assert 0.5 < np.interp(spectrum.energy_eV[0] + 60, spectrum.energy_eV, spectrum.mu) < 1.5


@pytest.mark.feff
def test_scf_that_stops_at_both_mixings_converges_with_more_iterations():
    """A real Cr fluoride site (AMCSD 15791, Na2NiCrF7, 4.5 A of its bundled cluster) whose
    SCF 3 A loop stops on "bad counts" at FEFF's default and in corval at mixing 0.05: the
    next loop of ``SCF_RETRIES`` (100 iterations, 10 of plain mixing) converges, and
    calculator_version names it."""
    from larch_motif.plugins import feff10_calculator as fc

    cluster = _bundled_cluster("amcsd:15791#0", "Cr", 4.5)
    params = CalculationParameters(edge="K", scf_radius_A=3.0, fms_radius_A=4.0)
    calc = fc.Feff10Calculator()
    import feff10

    with pytest.raises(fc.SCFBadCounts):
        calc._xanes(feff10, cluster, params, fc.SCF_RETRIES[0])
    spectrum = calc.calculate(cluster, params)
    assert spectrum.calculator_version.endswith(
        "; SCF mixing 0.05, 100 iterations, 10 before Broyden after bad counts at 0.2")
    assert np.all(np.isfinite(spectrum.mu)) and spectrum.energy_eV.size > 50
    assert 0.5 < np.interp(spectrum.energy_eV[0] + 60, spectrum.energy_eV, spectrum.mu) < 1.5
