"""The database path end to end with the real FEFF10 on tiny clusters: labels, build, resume
after SIGKILL, refusal of foreign or corrupted files, concurrent builds, Dask, export."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from larch_motif.build import Progress, build_database
from larch_motif.calculators import CalculationParameters
from larch_motif.database import SpectralDatabase
from larch_motif.errors import DatabaseError, LarchMotifError
from larch_motif.labels import site_labels
from larch_motif.structures import (
    absorber_sites,
    amcsd_entries,
    distinct_cifs,
    order_structure,
    parse_cif_text,
    structure_family,
)

TINY = CalculationParameters(cluster_radius_A=3.0, fms_radius_A=2.6, xanes_kmax_invA=4.0, timeout_s=120)
TINY_FLAGS = ["--cluster-radius", "3.0", "--fms-radius", "2.6", "--kmax", "4.0"]
MINERALS = ("hematite", "magnetite", "chromite")


def _cif(mineral: str) -> str:
    from larixite.amcsd import AMCSD

    return AMCSD(read_only=True).find_cifs(mineral_name=mineral)[0].ciftext


@pytest.fixture(scope="module")
def cif_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cifs")
    for mineral in MINERALS:
        (folder / f"{mineral}.cif").write_text(_cif(mineral))
    (folder / "broken.cif").write_text("data_broken\n_cell_length_a 5\nthis is not a CIF loop\n")
    return folder


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory, cif_folder) -> Path:
    db = tmp_path_factory.mktemp("db") / "tiny.sqlite"
    build_database("Fe", db=db, source=cif_folder, params=TINY, workers=2, progress=False)
    return db


def _labels(mineral: str) -> dict:
    from larch_motif.structures import StructureEntry

    structure, _ = order_structure(parse_cif_text(_cif(mineral)))
    entry = StructureEntry(mineral, mineral, "", "test", structure)
    sites, _ = absorber_sites(entry, "Fe")
    labels = site_labels(structure, [s.site_index for s in sites])
    return {s.site_index: (labels[s.site_index], s.multiplicity) for s in sites}


def test_chemenv_labels_of_known_structures():
    hematite = list(_labels("hematite").values())
    assert [lab["motif"] for lab, _ in hematite] == ["O:6"]
    assert 1.95 < hematite[0][0]["bond_mean_A"] < 2.10 and hematite[0][0]["ligands"] == "O"
    magnetite = sorted((lab["motif"], m) for lab, m in _labels("magnetite").values())
    assert [m for m, _ in magnetite] == ["O:6", "T:4"]
    assert magnetite[0][1] == 2 * magnetite[1][1]  # two octahedral Fe per tetrahedral Fe
    assert [lab["motif"] for lab, _ in _labels("chromite").values()] == ["T:4"]


def test_structure_family_groups_isostructural_compounds_of_other_chemistry():
    family = {m: structure_family(order_structure(parse_cif_text(_cif(m)))[0])
              for m in ("magnetite", "chromite", "hematite", "corundum")}
    assert family["magnetite"] == family["chromite"] == "227:M3X4"  # spinels: Fe3O4, FeCr2O4
    assert family["hematite"] == family["corundum"] == "167:M2X3"  # Fe2O3 and Al2O3
    assert family["hematite"] != family["magnetite"]


def test_partial_occupancy_keeps_a_dominant_absorber_and_records_it():
    from pymatgen.core import Lattice, Structure

    lattice = Lattice.cubic(4.2)
    structure = Structure(lattice, [{"Fe": 0.7, "Mg": 0.3}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    ordered, notes = order_structure(structure)
    assert notes["n_disordered_sites"] == 1
    assert ordered[0].specie.symbol == "Fe"
    assert ordered[0].properties["occupancy"] == pytest.approx(0.7)
    minority = Structure(lattice, [{"Mg": 0.7, "Fe": 0.3}, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    from larch_motif.structures import StructureEntry

    entry = StructureEntry("m", "m", "", "test", order_structure(minority)[0])
    sites, skipped = absorber_sites(entry, "Fe")
    assert sites == [] and "dominant" in skipped[0]


def test_mostly_vacant_sites_are_left_out_and_split_positions_are_one_atom():
    from pymatgen.core import Lattice, Structure

    from larch_motif.structures import StructureEntry, cluster_around

    # Cu at the origin; an interstitial O at 4 % occupancy 1.68 A away (as in a cuprate's
    # O_{7-d} chain); a full O; an O split over two positions 0.42 A apart, 0.3 each (together
    # 0.6: kept, as one atom between them); an O split over two positions 0.84 A apart, 0.2 each
    # (together 0.4: vacant). (Pr2NiO4+d's apical O, split 0.66 A apart at 0.585 and 0.415,
    # made its octahedral Ni 8-coordinated while the two positions were kept apart.)
    structure = Structure(
        Lattice.cubic(4.2), ["Cu", {"O": 0.04}, "O", {"O": 0.3}, {"O": 0.3}, {"O": 0.2}, {"O": 0.2}],
        [[0, 0, 0], [0.4, 0, 0], [0.5, 0.5, 0.5], [0, 0.5, 0], [0.1, 0.5, 0], [0, 0, 0.4], [0.2, 0, 0.4]])
    ordered, notes = order_structure(structure)
    assert notes["n_vacant_sites_removed"] == 3 and notes["n_split_sites_merged"] == 1
    assert sorted(site.specie.symbol for site in ordered) == ["Cu", "O", "O"]
    cu = next(i for i, site in enumerate(ordered) if site.specie.symbol == "Cu")
    symbols, coords = cluster_around(ordered, cu, 2.2)
    distances = np.linalg.norm(coords, axis=1)
    assert symbols.count("O") == 2 and distances[1:].min() > 2.0  # no O at 1.68 A
    assert distances[1:].min() == pytest.approx(np.hypot(0.05, 0.5) * 4.2, abs=1e-3)  # the centroid
    # an absorber split over positions keeps its site when they add up to 0.5 or more
    split_cu = Structure(Lattice.cubic(4.2), [{"Cu": 0.25}, {"Cu": 0.25}, "O"],
                         [[0, 0, 0], [0.05, 0, 0], [0.5, 0.5, 0.5]])
    sites, _ = absorber_sites(StructureEntry("s", "s", "", "test", order_structure(split_cu)[0]), "Cu")
    assert len(sites) == 1 and sites[0].occupancy >= 0.5


def test_amcsd_source_gives_fe_structures_in_a_reproducible_order():
    first = [e.structure_id for e in amcsd_entries("Fe", limit=3)]
    again = [e.structure_id for e in amcsd_entries("Fe", limit=3)]
    assert first == again and len(first) == 3


def test_further_cifs_of_a_mineral_are_taken_only_where_they_differ():
    """Hematite in AMCSD: 12 refinements of Fe2O3, several at ambient conditions (density within
    2% of the first) and a high-pressure series; per_mineral 3 takes the first, then only CIFs
    whose density is more than 2% from every one taken, whatever their cell setting."""
    from larixite.amcsd import AMCSD

    cifs = sorted(AMCSD(read_only=True).find_cifs(mineral_name="hematite"), key=lambda c: c.ams_id)
    assert len(cifs) > 3
    assert [c.ams_id for c in distinct_cifs(cifs, 1)] == [cifs[0].ams_id]
    taken = distinct_cifs(cifs, 3)
    assert taken[0] is cifs[0] and 1 < len(taken) <= 3
    densities = [float(c.crystal_density) for c in taken]
    assert all(abs(a - b) > 0.02 * min(a, b) for i, a in enumerate(densities) for b in densities[i + 1:])
    skipped = [c for c in cifs[: cifs.index(taken[-1])] if c not in taken]
    assert skipped and all(any(abs(float(c.crystal_density) - d) <= 0.02 * d for d in densities) for c in skipped)


@pytest.mark.feff
def test_tiny_build_stores_labelled_spectra_and_compounds(tiny_db):
    with SpectralDatabase(tiny_db) as db:
        info = db.info()["elements"]["Fe"]
        sites = db.site_spectra("Fe")
        compounds = {c["structure_id"]: c for c in db.compound_spectra("Fe")}
    assert info["n_sites"] == 4 and info["cn"] == {"4": 2, "6": 2}
    assert info["failures"] == {"CIF parse error": 1}
    for s in sites:
        assert s["energy_eV"].size > 20 and np.all(np.diff(s["energy_eV"]) > 0)
        assert 7080 < s["energy_eV"][0] < 7130 and s["calculator"] == "feff10"
    magnetite = compounds["cif:magnetite.cif"]
    assert magnetite["cn_mean"] == pytest.approx(16 / 3)
    assert magnetite["motif_fractions"] == pytest.approx({"O:6": 2 / 3, "T:4": 1 / 3})
    ms = [s for s in sites if s["structure_id"] == "cif:magnetite.cif"]
    weights = np.array([s["multiplicity"] for s in ms], float)
    grid = ms[0]["energy_eV"]
    expected = sum(w * np.interp(grid, s["energy_eV"], s["mu"]) for w, s in zip(weights, ms)) / weights.sum()
    np.testing.assert_allclose(magnetite["mu"], expected, atol=1e-5)


@pytest.mark.feff
def test_db_info_json_shape(tiny_db):
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "db", "info", "--db", str(tiny_db), "--json"],
                       capture_output=True, text=True, check=True)
    fe = json.loads(r.stdout)["elements"]["Fe"]
    assert {"edge", "n_sites", "n_compounds", "n_minerals", "cn", "motif", "failures"} <= set(fe)
    assert fe["n_minerals"] == 3 and fe["motif"]["T:4"] == 2


def _snapshot(db: Path) -> dict:
    with SpectralDatabase(db) as store:
        return {s["site_id"]: (s["cn"], s["motif"], s["mu"]) for s in store.site_spectra("Fe")}


@pytest.mark.feff
def test_larch_motif_db_points_commands_without_db_at_another_file(tiny_db):
    env = {**os.environ, "LARCH_MOTIF_DB": str(tiny_db)}
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "db", "info", "--json"],
                       capture_output=True, text=True, check=True, env=env)
    assert list(json.loads(r.stdout)["elements"]) == ["Fe"]
    assert json.loads(r.stdout)["elements"]["Fe"]["n_sites"] == 4  # the tiny file, not the bundled one


def test_progress_rate_of_a_resumed_build_counts_only_this_runs_sites():
    bar = Progress(enabled=False, label="Fe K")
    bar.start(300)  # 300 sites were done by an earlier run
    assert bar.rate_per_min(310, bar.t0 + 120.0) == pytest.approx(5.0)  # 10 sites in 2 min
    assert bar.rate_per_min(300, bar.t0 + 60.0) == 0.0
    bar.skip(4)  # 4 sites left out by the site domain: finished, not calculated
    assert bar.rate_per_min(314, bar.t0 + 120.0) == pytest.approx(5.0)


@pytest.mark.feff
def test_build_killed_mid_way_resumes_to_the_uninterrupted_result(tmp_path, cif_folder, tiny_db):
    db = tmp_path / "killed.sqlite"
    cmd = [sys.executable, "-m", "larch_motif.cli", "db", "build", "--element", "Fe", "--source",
           str(cif_folder), "--db", str(db), "--workers", "1", "--quiet", *TINY_FLAGS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and done < 1:
        time.sleep(0.3)
        if db.exists():
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
                done = con.execute("SELECT COUNT(*) FROM sites WHERE status='done'").fetchone()[0]
                con.close()
            except sqlite3.Error:
                pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= done < 4, "the build was not interrupted mid-way"
    with SpectralDatabase(db) as store:  # readable after SIGKILL
        assert store.info()["elements"]["Fe"]["n_sites"] >= 1
    subprocess.run(cmd, check=True, timeout=300)
    resumed, reference = _snapshot(db), _snapshot(tiny_db)
    assert resumed.keys() == reference.keys()
    for key, (cn, motif, mu) in reference.items():
        assert resumed[key][:2] == (cn, motif)
        np.testing.assert_allclose(resumed[key][2], mu, atol=1e-6)


@pytest.mark.feff
def test_dask_local_cluster_builds_the_same_database(tmp_path, cif_folder, tiny_db):
    from distributed import Client, LocalCluster

    db = tmp_path / "dask.sqlite"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        build_database("Fe", db=db, source=cif_folder, params=TINY, scheduler=client, progress=False)
    dask, reference = _snapshot(db), _snapshot(tiny_db)
    assert dask.keys() == reference.keys()
    for key in reference:
        np.testing.assert_allclose(dask[key][2], reference[key][2], atol=1e-6)


def test_second_build_on_the_same_file_is_refused(tmp_path, cif_folder):
    db = tmp_path / "locked.sqlite"
    store = SpectralDatabase(db, writable=True)
    with store.build_lock(), pytest.raises(DatabaseError, match="is being built by pid"):
        build_database("Fe", db=db, source=cif_folder, params=TINY, workers=1, progress=False)
    store.close()


def test_a_build_refused_before_the_holder_wrote_its_pid_still_names_it(tmp_path):
    """The holder takes the lock, then writes its pid: a refusal in between waits for the pid."""
    import fcntl
    import threading

    db = tmp_path / "racing.sqlite"
    SpectralDatabase(db, writable=True).close()
    fd = os.open(str(db) + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # locked, file still empty
    os.ftruncate(fd, 0)
    writer = threading.Timer(0.3, lambda: os.write(fd, b"pid 4242"))
    writer.start()
    store = SpectralDatabase(db, writable=True)
    with pytest.raises(DatabaseError, match="is being built by pid 4242"), store.build_lock():
        pass
    writer.join()
    store.close()
    os.close(fd)


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (os.urandom(4096), "not a readable larch_motif database"),
])
def test_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "x.sqlite"
    path.write_bytes(content)
    with pytest.raises(DatabaseError, match=message):
        SpectralDatabase(path)


def test_a_database_that_cannot_be_created_is_one_database_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DatabaseError, match="cannot create the database"):
        SpectralDatabase(blocker / "new.sqlite", writable=True)


def test_a_database_created_meanwhile_by_another_build_is_kept(tmp_path, monkeypatch):
    """Two builds create one file at once: the one linked first stands, the other opens it."""
    import larch_motif.database as database

    path, other = tmp_path / "race.sqlite", tmp_path / "other.sqlite"
    with SpectralDatabase(other, writable=True) as store:
        store.set_meta("built by", "the other build")
    real_link = os.link

    def link_after_the_other_build(src, dst):
        real_link(other, dst)
        return real_link(src, dst)  # FileExistsError, as when the other build is first

    monkeypatch.setattr(database.os, "link", link_after_the_other_build)
    with SpectralDatabase(path, writable=True) as store:
        assert store.get_meta("built by") == "the other build"
    assert sorted(p.name for p in tmp_path.iterdir() if ".creating" in p.name) == []


def test_without_hard_links_the_database_is_created_in_place(tmp_path, monkeypatch):
    import larch_motif.database as database

    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(database.os, "link", no_links)
    path = tmp_path / "vfat.sqlite"
    with SpectralDatabase(path, writable=True) as store:
        store.set_meta("built", True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vfat.sqlite"]
    with SpectralDatabase(path) as store:
        assert store.get_meta("built") is True


def test_only_the_leftovers_of_dead_creators_are_removed(tmp_path):
    path = tmp_path / "db.sqlite"
    running = tmp_path / f".db.sqlite.{os.getpid()}.0a1b2c3d.creating"
    unrelated = tmp_path / ".db.sqlite.backup.creating"
    running.write_bytes(b"")
    unrelated.write_bytes(b"")
    SpectralDatabase(path, writable=True).close()
    assert running.exists() and unrelated.exists()


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(DatabaseError, match="foreign SQLite file"):
        SpectralDatabase(path)


def _killed(code: str) -> None:
    """Run ``code`` in a Python process that SIGKILLs itself where the code says ``KILL``."""
    script = "import os, signal, sqlite3\nKILL = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n" + code
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == -signal.SIGKILL, r.stderr


def test_a_write_killed_mid_transaction_is_rolled_back_when_the_file_is_read(tmp_path):
    """A killed writer in rollback-journal mode leaves a hot journal that a read-only connection
    cannot roll back (SQLite: "attempt to write a readonly database"); reading rolls it back and
    finds what was committed before the kill."""
    path = tmp_path / "hot.sqlite"
    with SpectralDatabase(path, writable=True) as store:
        store.set_meta("committed", 1)
    _killed(f"""
con = sqlite3.connect({str(path)!r})
con.execute("PRAGMA journal_mode=DELETE")
con.execute("PRAGMA cache_size=1")  # the transaction's pages spill into the database file
con.execute("BEGIN IMMEDIATE")
for i in range(300):
    con.execute("INSERT INTO meta VALUES (?, ?)", (f"k{{i}}", "x" * 3000))
KILL()
""")
    assert path.with_name("hot.sqlite-journal").exists()
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM meta").fetchone()
    with SpectralDatabase(path) as store:
        assert store.get_meta("committed") == 1
        assert store.get_meta("k0") is None
    assert not path.with_name("hot.sqlite-journal").exists()


def test_an_interrupted_write_is_told_from_the_message_where_python_does_not_name_sqlites_code(tmp_path):
    """Python 3.10's sqlite3 errors carry no ``sqlite_errorname``: the message and a journal
    beside the file tell a killed writer's hot journal from other refusals."""
    from larch_motif.database import _is_interrupted_write

    path = tmp_path / "db.sqlite"
    refusal = sqlite3.OperationalError("attempt to write a readonly database")  # no code, as on 3.10
    assert not hasattr(refusal, "sqlite_errorname")
    assert not _is_interrupted_write(refusal, path)
    path.with_name("db.sqlite-journal").write_bytes(b"journal")
    assert _is_interrupted_write(refusal, path)
    assert not _is_interrupted_write(sqlite3.OperationalError("database is locked"), path)


def test_a_creation_killed_before_the_file_is_complete_leaves_no_file_readers_refuse(tmp_path):
    path = tmp_path / "new.sqlite"
    _killed(f"""
os.link = KILL  # killed with the schema written, before the file is in place
from larch_motif.database import SpectralDatabase
SpectralDatabase({str(path)!r}, writable=True)
""")
    assert not path.exists()
    assert [p.name.endswith(".creating") for p in tmp_path.iterdir()] == [True]
    with SpectralDatabase(path, writable=True) as store:  # the next build starts afresh
        store.set_meta("built", True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.sqlite"]
    with SpectralDatabase(path) as store:
        assert store.get_meta("built") is True


@pytest.mark.feff
def test_corrupted_database_is_detected(tmp_path, tiny_db):
    path = tmp_path / "corrupt.sqlite"
    data = bytearray(tiny_db.read_bytes())
    data[len(data) // 2: len(data) // 2 + 2048] = os.urandom(2048)
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseError):
        with SpectralDatabase(path) as db:
            db.site_spectra("Fe")
            db.compound_spectra("Fe")


@pytest.mark.feff
def test_altered_spectrum_fails_its_checksum(tmp_path, tiny_db):
    path = tmp_path / "altered.sqlite"
    path.write_bytes(tiny_db.read_bytes())
    con = sqlite3.connect(path)
    from larch_motif.database import pack_array

    con.execute("UPDATE sites SET mu=? WHERE rowid=(SELECT MIN(rowid) FROM sites WHERE status='done')",
                (pack_array(np.ones(50)),))
    con.commit()
    con.close()
    with SpectralDatabase(path) as db, pytest.raises(DatabaseError, match="checksum mismatch"):
        db.site_spectra("Fe")


@pytest.mark.feff
def test_refresh_recomputes_only_the_structures_whose_clusters_changed(tmp_path, cif_folder, tiny_db):
    path = tmp_path / "refresh.sqlite"
    path.write_bytes(tiny_db.read_bytes())
    con = sqlite3.connect(path)
    # what an older ordering policy stored for hematite: an extra O 1.7 A from each Fe
    rows = con.execute("SELECT site_id, cluster FROM sites WHERE structure_id='cif:hematite.cif'").fetchall()
    for site_id, cluster in rows:
        c = json.loads(cluster)
        c["symbols"].append("O")
        c["coords_A"].append([1.7, 0.0, 0.0])
        con.execute("UPDATE sites SET cluster=? WHERE site_id=?", (json.dumps(c), site_id))
    before = dict(con.execute("SELECT site_id, crc FROM sites WHERE structure_id!='cif:hematite.cif'"))
    con.commit()
    con.close()
    report = build_database("Fe", db=path, source=cif_folder, params=TINY, workers=2, progress=False,
                            refresh=True)
    assert report.structures_refreshed == 1 and report.sites_new == len(rows)
    with SpectralDatabase(path) as db:
        info = db.info()["elements"]["Fe"]
        hematite = [s for s in db.site_spectra("Fe") if s["structure_id"] == "cif:hematite.cif"]
        compounds = {c["structure_id"] for c in db.compound_spectra("Fe")}
    assert info["n_sites"] == 4 and "cif:hematite.cif" in compounds
    assert len(hematite) == len(rows) and hematite[0]["motif"] == "O:6"
    con = sqlite3.connect(path)
    clusters = [json.loads(c) for (c,) in con.execute(
        "SELECT cluster FROM sites WHERE structure_id='cif:hematite.cif'")]
    after = dict(con.execute("SELECT site_id, crc FROM sites WHERE structure_id!='cif:hematite.cif'"))
    con.close()
    assert all(np.linalg.norm(c["coords_A"][1:], axis=1).min() > 1.9 for c in clusters)
    assert after == before  # the unchanged structures keep their spectra
    again = build_database("Fe", db=path, source=cif_folder, params=TINY, workers=2, progress=False,
                           refresh=True)
    assert again.structures_refreshed == 0 and again.sites_new == 0


@pytest.mark.parametrize("args, message", [
    (["--element", "Xx"], "unknown element 'Xx'"),
    (["--element", "Fe", "--edge", "L3"], "edge 'L3' of Fe is not supported"),
    (["--element", "Fe", "--source", "/nonexistent/folder"], "does not exist"),
])
def test_bad_build_input_is_one_line_exit_2(tmp_path, args, message):
    r = subprocess.run([sys.executable, "-m", "larch_motif.cli", "db", "build", "--db", str(tmp_path / "x.sqlite"),
                        *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr
    assert "Traceback" not in r.stderr


def test_empty_cif_folder_is_refused(tmp_path):
    with pytest.raises(LarchMotifError, match="holds no"):
        build_database("Fe", db=tmp_path / "x.sqlite", source=tmp_path, params=TINY, progress=False)


@pytest.mark.feff
def test_export_hdf5_and_csv_hold_every_site(tmp_path, tiny_db):
    import h5py

    with SpectralDatabase(tiny_db) as db:
        db.export_hdf5(tmp_path / "db.h5")
        files = db.export_csv(tmp_path / "csv")
    with h5py.File(tmp_path / "db.h5") as h5:
        assert len(h5["Fe_K/sites"]) == 4 and len(h5["Fe_K/compounds"]) == 3
        assert h5["Fe_K/sites/00000/mu"].shape == h5["Fe_K/sites/00000/energy_eV"].shape
    labels = files[0].read_text().splitlines()
    assert len(labels) == 5 and "motif" in labels[0]


@pytest.mark.feff
def test_pymatgen_structures_from_python_are_a_source(tmp_path):
    structure = parse_cif_text(_cif("chromite"))
    db = tmp_path / "pmg.sqlite"
    report = build_database("Fe", db=db, source=[structure], params=TINY, workers=1, progress=False)
    assert report.sites_new == 1
    with SpectralDatabase(db) as store:
        (site,) = store.site_spectra("Fe")
    assert site["structure_id"].startswith("pmg:") and site["motif"] == "T:4"


def _copy_element(db: Path, src: str, dst: str) -> None:
    """Copy every row of element ``src`` to element ``dst`` (stands in for another element)."""
    con = sqlite3.connect(db)
    for table in ("structures", "sites", "compounds"):
        cols = [r[1] for r in con.execute(f"PRAGMA table_info({table})")]
        picked = ", ".join("?" if c == "element" else c for c in cols)
        con.execute(f"INSERT INTO {table} SELECT {picked} FROM {table} WHERE element=?", (dst, src))
    con.commit()
    con.close()


@pytest.mark.feff
def test_replace_element_takes_one_elements_spectra_and_settings_from_another_file(tmp_path, cif_folder, tiny_db):
    dest = tmp_path / "dest.sqlite"
    other = CalculationParameters(cluster_radius_A=3.0, fms_radius_A=2.6, xanes_kmax_invA=3.5, timeout_s=120)
    build_database("Fe", db=dest, source=cif_folder, params=other, limit=2, workers=1, progress=False)
    _copy_element(dest, "Fe", "Co")
    with SpectralDatabase(dest) as db:
        co_before = db.content_hash("Co")
        assert db.info()["elements"]["Fe"]["calculation"]["parameters"]["xanes_kmax_invA"] == 3.5
    cli = [sys.executable, "-m", "larch_motif.cli", "db", "replace-element", "--db", str(dest)]
    r = subprocess.run([*cli, str(tiny_db), "--element", "Fe", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sites_after"] == 4
    with SpectralDatabase(dest) as db, SpectralDatabase(tiny_db) as ref:
        assert db.content_hash("Fe") == ref.content_hash("Fe")
        assert db.content_hash("Co") == co_before  # the other element untouched
        assert db.info()["elements"]["Fe"]["calculation"] == ref.info()["elements"]["Fe"]["calculation"]
        assert len(db.compound_spectra("Fe")) == len(ref.compound_spectra("Fe"))
    assert _snapshot(dest).keys() == _snapshot(tiny_db).keys()
    # an unfinished source or one without the element is refused, the file unchanged
    unfinished = tmp_path / "unfinished.sqlite"
    unfinished.write_bytes(tiny_db.read_bytes())
    con = sqlite3.connect(unfinished)
    con.execute("UPDATE sites SET status='pending' WHERE rowid IN (SELECT rowid FROM sites LIMIT 1)")
    con.commit()
    con.close()
    for source, element, message in ((unfinished, "Fe", "not finished"), (tiny_db, "Zn", "holds no Zn K")):
        r = subprocess.run([*cli, str(source), "--element", element], capture_output=True, text=True)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    with SpectralDatabase(dest) as db, SpectralDatabase(tiny_db) as ref:
        assert db.content_hash("Fe") == ref.content_hash("Fe")


@pytest.mark.feff
def test_site_domain_anion_records_metal_bonded_sites_without_computing_them(tmp_path):
    from pymatgen.core import Lattice, Structure

    iron = Structure.from_spacegroup("Im-3m", Lattice.cubic(2.87), ["Fe"], [[0, 0, 0]])
    wustite = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.33), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    db = tmp_path / "domain.sqlite"
    report = build_database("Fe", db=db, source=[iron, wustite], params=TINY, workers=1, progress=False,
                            site_domain="anion")
    assert report.sites_new == 1 and report.failures == {"outside the site domain": 1}
    with SpectralDatabase(db) as store:
        (site,) = store.site_spectra("Fe")
        assert site["ligands"] == "O" and site["cn"] == 6
        row = store.conn.execute("SELECT ligands, error, energy FROM sites WHERE status='failed'").fetchone()
    assert row["ligands"] == "Fe" and "--site-domain all" in row["error"] and row["energy"] is None
    # a resumed anion build leaves it alone; --site-domain all --retry-failed computes it
    again = build_database("Fe", db=db, source=[iron, wustite], params=TINY, workers=1, progress=False,
                           site_domain="anion", retry_failed=True)
    assert again.sites_new == 0
    full = build_database("Fe", db=db, source=[iron, wustite], params=TINY, workers=1, progress=False,
                          retry_failed=True)
    assert full.sites_new == 1
    with SpectralDatabase(db) as store:
        assert sorted(s["ligands"] for s in store.site_spectra("Fe")) == ["Fe", "O"]
    # a site that failed before its cluster was cut is not sent to the calculator on a retry
    con = sqlite3.connect(db)
    con.execute("INSERT INTO sites (site_id, structure_id, element, edge, status, failure_reason, error) "
                "VALUES ('x#9', 'x', 'Fe', 'K', 'failed', 'no ChemEnv environment', 'none found')")
    con.commit()
    con.close()
    retried = build_database("Fe", db=db, source=[iron, wustite], params=TINY, workers=1, progress=False,
                             retry_failed=True)
    assert retried.sites_new == 0 and retried.failures == {}
    with SpectralDatabase(db) as store:
        assert store.info()["elements"]["Fe"]["failures"] == {"no ChemEnv environment": 1}
    with pytest.raises(LarchMotifError, match="unknown site domain"):
        build_database("Fe", db=db, source=[iron], params=TINY, site_domain="cations", progress=False)


def test_split_position_merged_by_pymatgen_keeps_its_absorber_site():
    # AMCSD 15080: split Cu positions closer than 0.5 A are merged, which drops the occupancy
    # property; this failed the whole structure with "float() argument ... NoneType" before
    from larixite.amcsd import AMCSD

    from larch_motif.structures import _entry_from_cif_text

    cif = AMCSD(read_only=True).get_cif(15080)
    entry = _entry_from_cif_text("amcsd:15080", cif.get_mineralname(), "", "amcsd", cif.ciftext)
    sites, _ = absorber_sites(entry, "Cu")
    assert sites and all(0.5 <= s.occupancy <= 1.0 for s in sites)


def test_cif_that_lacks_an_element_of_its_formula_is_refused_with_the_reason(tmp_path):
    # AMCSD 17499 (ZnSb2O6, named "o6 sb2 zn") gives Zn and Sb sites only: without refusal its
    # Zn was labelled T:4 among Sb at 2.97 A, computed, and trained on
    from larixite.amcsd import AMCSD

    from larch_motif.structures import _entry_from_cif_text, missing_elements, named_elements

    cif = AMCSD(read_only=True).get_cif(17499)
    name = cif.get_mineralname().strip().lower()
    entry = _entry_from_cif_text("amcsd:17499", name, str(cif.formula), "amcsd", cif.ciftext)
    assert entry.structure is None and entry.error.startswith("incomplete CIF: O ")
    # a mineral's name names nothing; H may lack sites; a complete CIF lacks nothing
    assert named_elements("(Mn.96 Ca.04) C O3 H2", "rhodochrosite") == {"Mn", "Ca", "C", "O", "H"}
    chromite = parse_cif_text(_cif("chromite"))
    assert missing_elements(chromite, "Fe Cr2 O4 H", "chromite") == []
    assert missing_elements(chromite, "Fe Cr2 O4", "fe cr2 o4 zn") == ["Zn"]
    # a build records it as failed with that reason and computes nothing
    (tmp_path / "cifs").mkdir()
    (tmp_path / "cifs" / f"{name}.cif").write_text(cif.ciftext)
    report = build_database("Zn", db=tmp_path / "z.sqlite", source=tmp_path / "cifs", params=TINY,
                            workers=1, progress=False)
    assert report.sites_new == 0 and report.failures == {"incomplete CIF": 1}


def _elongated_octahedron(apical_A: float) -> tuple[list[str], np.ndarray]:
    """A Cu cluster: four O at 1.95 A in a square plane, two apical O at ``apical_A``."""
    coords = [[0, 0, 0], [1.95, 0, 0], [-1.95, 0, 0], [0, 1.95, 0], [0, -1.95, 0],
              [0, 0, apical_A], [0, 0, -apical_A]]
    return ["Cu", "O", "O", "O", "O", "O", "O"], np.array(coords, float)


def test_strong_bond_count_of_jahn_teller_copper():
    from larch_motif.labels import strong_bond_label

    symbols, coords = _elongated_octahedron(2.6)  # 2.6 / 1.95 = 1.33: two weak apical bonds
    assert strong_bond_label(6, "O", symbols, coords, 1.15) == (4, "S:4")
    assert strong_bond_label(6, "O", symbols, coords, 1.40) is None  # a cut past them keeps CN 6
    assert strong_bond_label(6, "O", *_elongated_octahedron(2.0), 1.15) is None  # a near-regular octahedron
    assert strong_bond_label(4, "O", symbols, coords, 1.15) is None  # ChemEnv's CN 4 stays
    assert strong_bond_label(6, "Cu,O", symbols, coords, 1.15) is None  # metal-bonded sites stay
    pyramid = (symbols[:6], np.vstack([coords[:5], [[0, 0, 2.05]]]))  # 4 + 1, all strong
    assert strong_bond_label(5, "O", *pyramid, 1.15) is None
    one_long = (symbols, np.vstack([coords[:6], [[0, 0, -2.1]]]))
    one_long[1][5] = [0, 0, 2.7]  # five strong bonds of a CN-6 site: a square pyramid
    assert strong_bond_label(6, "O", *one_long, 1.15) == (5, "S:5")
    seesaw = (symbols, coords.copy())
    seesaw[1][1] = [1.2, 0, 1.5]  # four strong bonds, not in a plane: ChemEnv's label stays
    assert strong_bond_label(6, "O", *seesaw, 1.15) is None


@pytest.mark.feff
def test_a_jahn_teller_copper_site_is_built_and_relabelled_by_its_strong_bonds(tmp_path):
    from pymatgen.core import Lattice, Structure

    # Cu(II) with four O at 1.95 A and two apical O at 2.6 A: ChemEnv counts six
    elongated = Structure.from_spacegroup("P4/mmm", Lattice.tetragonal(3.9, 5.2), ["Cu", "O", "O"],
                                          [[0, 0, 0], [0.5, 0, 0], [0, 0, 0.5]])
    assert [lab["cn"] for lab in site_labels(elongated, [0]).values()] == [6]
    db = tmp_path / "cu.sqlite"
    build_database("Cu", db=db, source=[elongated], params=TINY, workers=1, progress=False)
    with SpectralDatabase(db) as store:
        (site,) = store.site_spectra("Cu")
        (compound,) = store.compound_spectra("Cu")
        notes = json.loads(store.conn.execute("SELECT notes FROM structures").fetchone()[0])
    assert (site["cn"], site["motif"], compound["cn_mean"]) == (4, "S:4", 4.0)
    assert notes["chemenv_labels"] == {site["site_id"]: "O:6"}
    # a database built before the strong-bond count holds ChemEnv's label until `db relabel`
    con = sqlite3.connect(db)
    con.execute("UPDATE sites SET cn=6, motif='O:6'")
    con.execute("UPDATE compounds SET cn_mean=6")
    con.commit()
    con.close()
    cli = [sys.executable, "-m", "larch_motif.cli", "db", "relabel", "--db", str(db), "--json"]
    r = subprocess.run([*cli, "--element", "Cu"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"element": "Cu", "edge": "K", "cut": 1.15, "relabelled": {"6->4": 1}}
    with SpectralDatabase(db) as store:
        assert [(s["cn"], s["motif"]) for s in store.site_spectra("Cu")] == [(4, "S:4")]
        assert [c["cn_mean"] for c in store.compound_spectra("Cu")] == [4.0]
    again = subprocess.run([*cli, "--element", "Cu"], capture_output=True, text=True)
    assert json.loads(again.stdout)["relabelled"] == {}
    other = subprocess.run([*cli, "--element", "Fe"], capture_output=True, text=True)
    assert json.loads(other.stdout)["cut"] is None
