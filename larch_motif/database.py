"""The spectral database: a crash-safe SQLite store of theoretical XANES with labels.

One file holds, per absorbing element and edge: the structures read (with parse errors), the
symmetry-unique absorber sites (labels, descriptors, cluster, spectrum or the failure reason)
and the compound spectra (multiplicity-weighted averages over the sites of a structure).

Crash safety: the file is in WAL mode while a build writes, every result is committed on its
own, so a process killed at any moment leaves a readable file and a resumed build computes only
what is missing. A build holds an exclusive lock file (``PATH.lock``); a second build on the same
file is refused. Spectra are float32 arrays, zlib-compressed, each with a CRC32 checked on read.
"""

from __future__ import annotations

import csv
import fcntl
import glob
import json
import os
import re
import secrets
import sqlite3
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from larch_motif.errors import DatabaseError, LarchMotifError

APPLICATION_ID = 0x4C4D4F54  # "LMOT": marks a larch_motif database
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS structures (
    structure_id TEXT NOT NULL, element TEXT NOT NULL, edge TEXT NOT NULL,
    mineral TEXT, formula TEXT, source TEXT, status TEXT NOT NULL,
    failure_reason TEXT, error TEXT, notes TEXT,
    PRIMARY KEY (structure_id, element, edge));
CREATE TABLE IF NOT EXISTS sites (
    site_id TEXT NOT NULL, structure_id TEXT NOT NULL, element TEXT NOT NULL, edge TEXT NOT NULL,
    site_index INTEGER, multiplicity INTEGER, occupancy REAL, wyckoff TEXT,
    cn INTEGER, motif TEXT, csm REAL, ligands TEXT,
    bond_mean_A REAL, bond_min_A REAL, bond_max_A REAL, bond_std_A REAL,
    angle_std_deg REAL, oxidation_state REAL,
    cluster TEXT, status TEXT NOT NULL, failure_reason TEXT, error TEXT,
    energy BLOB, mu BLOB, crc INTEGER, seconds REAL, calculator TEXT, calculator_version TEXT,
    PRIMARY KEY (site_id, element, edge));
CREATE TABLE IF NOT EXISTS compounds (
    structure_id TEXT NOT NULL, element TEXT NOT NULL, edge TEXT NOT NULL,
    mineral TEXT, n_sites INTEGER, cn_mean REAL, motif_fractions TEXT,
    energy BLOB, mu BLOB, crc INTEGER,
    PRIMARY KEY (structure_id, element, edge));
CREATE INDEX IF NOT EXISTS sites_by_structure ON sites (structure_id, element, edge);
"""

SITE_LABEL_COLUMNS = (
    "cn", "motif", "csm", "ligands", "bond_mean_A", "bond_min_A", "bond_max_A",
    "bond_std_A", "angle_std_deg", "oxidation_state",
)


def bundled_database_path() -> Path:
    """The database file bundled with the package."""
    return Path(__file__).resolve().parent / "data" / "default_xanes.sqlite"


def default_database_path() -> Path:
    """The database used when no ``--db`` is given: ``LARCH_MOTIF_DB`` where set (a beamline's
    own database, or one built with other FEFF10 settings, for every command and the default
    models), else the one bundled with the package (``bundled_database_path``)."""
    override = os.environ.get("LARCH_MOTIF_DB")
    if override:
        return Path(override)
    return bundled_database_path()


def database_stamp() -> tuple | None:
    """``(path, mtime_ns, size)`` of the default database file (``default_database_path``), what
    in-process caches of its content are keyed by; ``None`` where the file cannot be read."""
    path = default_database_path()
    try:
        stat = path.stat()
    except OSError:
        return None
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _calculation_key(element: str, edge: str) -> str:
    """The meta key under which an element's calculation settings are recorded."""
    return f"calculation:{element}:{edge}"


def pack_array(values: np.ndarray) -> bytes:
    """float32, zlib-compressed bytes of a 1-D array."""
    return zlib.compress(np.ascontiguousarray(values, dtype="<f4").tobytes(), 6)


def unpack_array(blob: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype="<f4").astype(float)


def blob_crc(*blobs: bytes) -> int:
    crc = 0
    for blob in blobs:
        crc = zlib.crc32(blob, crc)
    return crc


def _lock_holder(fd: int, wait_s: float = 2.0) -> str:
    """Who holds the build lock on ``fd``: ``"pid N"`` as its holder wrote it.

    The holder writes its pid just after it takes the lock, so a build refused in that
    instant polls the file for up to ``wait_s`` seconds before it names "another process".
    """
    deadline = time.monotonic() + wait_s
    while True:
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if text.startswith("pid ") or time.monotonic() >= deadline:
            return text or "another process"
        time.sleep(0.02)


def _write_schema(conn: sqlite3.Connection) -> None:
    """Mark an empty SQLite file as a larch_motif database and create its tables (in the
    caller's transaction)."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _create_database_file(path: Path) -> None:
    """Create a new, empty database at ``path`` so that it appears complete or not at all.

    The schema is written into a temporary file beside ``path`` (``.NAME.PID.TOKEN.creating``),
    switched to WAL mode and linked into place: a process killed during creation leaves no empty
    or half-written file that readers would refuse, only its temporary file, which a later
    writable opening removes. Where another process creates ``path`` first, its file is kept. On a
    file system without hard links nothing is linked, and the caller creates the file in place
    (in one transaction, as before).
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.creating")
    os.close(os.open(temporary, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask's mode
    try:
        conn = sqlite3.connect(temporary)
        try:
            _write_schema(conn)
            conn.commit()
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # created meanwhile by another build: that one stands
        except OSError:
            pass  # no hard links here: SpectralDatabase creates the file in place
    finally:
        for leftover in _sqlite_files(temporary):
            leftover.unlink(missing_ok=True)


def _sqlite_files(path: Path) -> list[Path]:
    """``path`` and the journal files SQLite may keep beside it."""
    return [path.with_name(path.name + suffix) for suffix in ("", "-journal", "-wal", "-shm")]


def _remove_abandoned_creations(path: Path) -> None:
    """Remove, where this process may, the temporary files of creations of ``path``
    (``_create_database_file``) whose process no longer runs."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[0-9a-f]+\.creating(-journal|-wal|-shm)?")
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.creating*"):
        match = pattern.fullmatch(leftover.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass  # another user's leftover: theirs to remove
        except PermissionError:
            pass  # another user's running process


#: SQLite's refusals of a read-only connection that one read-write connection mends: a hot
#: rollback journal, or a write-ahead log to recover, left by a writer killed mid-transaction
_INTERRUPTED_WRITE_CODES = {"SQLITE_READONLY_ROLLBACK", "SQLITE_READONLY_RECOVERY"}
#: SQLite's refusals of a read-only connection to a database in WAL mode whose folder or
#: shared-memory file this process cannot write
_WAL_NOT_WRITABLE_CODES = {"SQLITE_READONLY_DIRECTORY", "SQLITE_READONLY_CANTINIT"}


def _is_interrupted_write(exc: BaseException | None, path: Path) -> bool:
    """Whether SQLite refused a read-only connection because a writer was killed
    mid-transaction (``_INTERRUPTED_WRITE_CODES``; Python 3.10, which does not name SQLite's
    codes: its message and a journal beside ``path``)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    name = getattr(exc, "sqlite_errorname", None)
    if name is not None:
        return name in _INTERRUPTED_WRITE_CODES
    return "readonly database" in str(exc) and any(
        p.exists() for p in _sqlite_files(path)[1:3])  # -journal or -wal


def _roll_back_interrupted_write(path: Path) -> None:
    """Let SQLite undo the half-written transaction of a killed writer, which a read-only
    connection cannot do: one read through a read-write connection rolls it back. The content
    committed before the kill is kept; nothing else is written."""
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise DatabaseError(
            f"{path}: a write to this database was interrupted and must be rolled back, which needs "
            "write access to the file and its folder; open it once with write access (for example, "
            "run the build again to resume it)"
        )
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=30)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseError(f"{path}: not a readable larch_motif database ({exc})") from None


class _SQLiteRefusal(DatabaseError):
    """SQLite refused to open or check a database file; ``sqlite_error`` is its error."""

    def __init__(self, path: Path, sqlite_error: sqlite3.Error) -> None:
        super().__init__(f"{path}: not a readable larch_motif database ({sqlite_error})")
        self.sqlite_error = sqlite_error


class SpectralDatabase:
    """Open a database file for reading (default) or writing (``writable=True``).

    Opening checks that the file is a larch_motif database of a known schema and passes SQLite's
    quick check; otherwise ``DatabaseError`` names the problem. A file that a writer was killed
    in the middle of a transaction of is first rolled back to what was committed, through one
    read-write connection (which needs write access to the file and its folder): the only write
    a reading opening makes.
    """

    def __init__(self, path: str | os.PathLike | None = None, writable: bool = False) -> None:
        self.path = Path(path) if path is not None else default_database_path()
        self.writable = writable
        self._lock_fd: int | None = None
        if not writable and not self.path.exists():
            raise DatabaseError(f"database {str(self.path)!r} does not exist")
        if self.path.exists() and self.path.is_dir():
            raise DatabaseError(f"database {str(self.path)!r} is a folder, not a file")
        if writable:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _remove_abandoned_creations(self.path)
                if not self.path.exists():
                    _create_database_file(self.path)
            except (OSError, sqlite3.Error) as exc:
                raise DatabaseError(f"{self.path}: cannot create the database ({exc})") from None
        try:
            self._connect()
        except _SQLiteRefusal as exc:
            if not writable and _is_interrupted_write(exc.sqlite_error, self.path):
                _roll_back_interrupted_write(self.path)
                self._connect()
            elif getattr(exc.sqlite_error, "sqlite_errorname", None) in _WAL_NOT_WRITABLE_CODES:
                raise DatabaseError(
                    f"{self.path}: the file is in WAL mode (a build that has not finished) and its folder "
                    "is not writable, which SQLite needs to read it; open it once where you can write, "
                    "or copy it") from None
            else:
                raise

    def _connect(self) -> None:
        """Connect and check the file; ``DatabaseError`` where the file is not a readable
        larch_motif database (``_SQLiteRefusal``, which carries SQLite's error, where SQLite
        refused it)."""
        try:
            if self.writable:
                self.conn = sqlite3.connect(self.path, timeout=30)
            else:
                self.conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            self.conn.row_factory = sqlite3.Row
        except sqlite3.DatabaseError as exc:
            raise _SQLiteRefusal(self.path, exc) from None
        try:
            self._check_or_create()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise _SQLiteRefusal(self.path, exc) from None
        except Exception:
            self.conn.close()
            raise

    def _check_or_create(self) -> None:
        if self.writable:  # check and create in one transaction: two builds may start at once
            self.conn.execute("BEGIN IMMEDIATE")
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id == 0 and not tables:
            if not self.writable:
                raise DatabaseError(f"{self.path}: empty file, not a larch_motif database")
            _write_schema(self.conn)
        elif app_id != APPLICATION_ID:
            raise DatabaseError(f"{self.path}: not a larch_motif database (foreign SQLite file)")
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise DatabaseError(
                f"{self.path}: database schema version {version}, this larch_motif reads {SCHEMA_VERSION}"
            )
        check = self.conn.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            detail = "; ".join(line.strip() for line in str(check).splitlines() if line.strip())
            raise DatabaseError(f"{self.path}: database file is corrupted or truncated ({detail})"[:400])
        if self.writable:
            self.conn.commit()
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")

    # -- writing ---------------------------------------------------------------------------
    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """Hold the exclusive build lock; a second build on this file is refused."""
        lock_path = str(self.path) + ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)  # the umask's mode, as the database's
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd)
            os.close(fd)
            raise DatabaseError(
                f"{self.path} is being built by {holder}; wait for it or use another --db"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()}".encode())
        self._lock_fd = fd
        try:
            yield
        finally:
            self._lock_fd = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def lock_fd(self) -> int | None:
        """File descriptor of the held build lock (forked workers close it), else ``None``."""
        return self._lock_fd

    def set_meta(self, key: str, value: object) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        self.conn.commit()

    def get_meta(self, key: str, default: object = None) -> object:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def check_parameters(self, element: str, edge: str, params: dict, calculator: str) -> None:
        """Record the calculation settings of an element; refuse a build with other settings."""
        key = _calculation_key(element, edge)
        wanted = {"calculator": calculator, "parameters": {k: v for k, v in params.items() if k != "timeout_s"}}
        wanted = json.loads(json.dumps(wanted))  # as stored: tuples become lists
        stored = self.get_meta(key)
        if stored is None:
            self.set_meta(key, wanted)
        elif stored != wanted:
            raise DatabaseError(
                f"{self.path} holds {element} {edge} spectra computed with other settings "
                f"({stored}); use another --db for {wanted}"
            )

    def calculation(self, element: str, edge: str = "K") -> dict | None:
        """The recorded calculation settings of an element: ``{"calculator": name,
        "parameters": CalculationParameters.as_dict() without the timeout}``, or ``None``."""
        return self.get_meta(_calculation_key(element, edge))

    def write_structure(self, row: dict) -> None:
        cols = ("structure_id", "element", "edge", "mineral", "formula", "source", "status",
                "failure_reason", "error", "notes")
        self.conn.execute(
            f"INSERT OR REPLACE INTO structures ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [json.dumps(row.get(c)) if c == "notes" else row.get(c) for c in cols],
        )

    def write_pending_site(self, row: dict) -> None:
        cols = ("site_id", "structure_id", "element", "edge", "site_index", "multiplicity",
                "occupancy", "wyckoff", *SITE_LABEL_COLUMNS, "cluster", "status",
                "failure_reason", "error")
        self.conn.execute(
            f"INSERT OR IGNORE INTO sites ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
            [row.get(c) for c in cols],
        )

    def commit(self) -> None:
        self.conn.commit()

    def write_site_result(self, site_id: str, element: str, edge: str, result: dict) -> None:
        """Store a calculation result (``energy_eV``, ``mu``, ...) or its failure, committed."""
        if result.get("error"):
            self.conn.execute(
                "UPDATE sites SET status='failed', failure_reason=?, error=? "
                "WHERE site_id=? AND element=? AND edge=?",
                (result["failure_reason"], result["error"], site_id, element, edge),
            )
        else:
            e_blob, mu_blob = pack_array(result["energy_eV"]), pack_array(result["mu"])
            self.conn.execute(
                "UPDATE sites SET status='done', failure_reason=NULL, error=NULL, energy=?, mu=?, "
                "crc=?, seconds=?, calculator=?, calculator_version=? "
                "WHERE site_id=? AND element=? AND edge=?",
                (e_blob, mu_blob, blob_crc(e_blob, mu_blob), result["seconds"], result["calculator"],
                 result["calculator_version"], site_id, element, edge),
            )
        self.conn.commit()

    def replace_element(self, source: str | os.PathLike, element: str, edge: str = "K") -> dict:
        """Replace this file's ``element`` ``edge`` spectra by those of another database file.

        For instance a database built with SCF for one element takes the place of that
        element's spectra in the bundled database, the other elements untouched. Structures,
        sites, compounds and the recorded calculation settings are copied in one transaction
        (all or nothing); the source must be a complete larch_motif database of that element.
        Returns the counts of the element before and after.
        """
        if not self.writable:
            raise DatabaseError(f"{self.path} is open read-only")
        src = SpectralDatabase(source)
        try:
            if (element, edge) not in src.elements():
                raise DatabaseError(f"{src.path} holds no {element} {edge} spectra")
            pending = src.count_sites(element, edge, "pending")
            if pending:
                raise DatabaseError(f"{src.path}: the {element} {edge} build is not finished "
                                    f"({pending} sites pending); resume it first")
            settings = src.calculation(element, edge)
        finally:
            src.close()
        before = self.count_sites(element, edge, "done")
        self.conn.execute("ATTACH DATABASE ? AS src", (str(Path(source)),))
        try:
            with self.conn:  # one transaction: a crash leaves the old element whole
                for table in ("structures", "sites", "compounds"):
                    self.conn.execute(f"DELETE FROM main.{table} WHERE element=? AND edge=?", (element, edge))
                    self.conn.execute(f"INSERT INTO main.{table} SELECT * FROM src.{table} "
                                      "WHERE element=? AND edge=?", (element, edge))
                self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                                  (_calculation_key(element, edge), json.dumps(settings)))
        finally:
            self.conn.execute("DETACH DATABASE src")
        self.conn.execute("VACUUM")  # give back the pages of the old spectra
        after = self.count_sites(element, edge, "done")
        return {"element": element, "edge": edge, "sites_before": before, "sites_after": after,
                "settings": settings}

    def relabel_strong_bonds(self, element: str, edge: str = "K") -> dict:
        """Count the ChemEnv CN 5 and 6 sites of ``element`` by their strong bonds, as a build
        now labels them (``labels.STRONG_BOND_CUT_BY_ELEMENT``; a database built before keeps
        ChemEnv's labels until this runs). Each relabelled site's ChemEnv motif goes into its
        structure's notes (``chemenv_labels``), and the compounds of those structures are formed
        again with the new site-averaged CN. One transaction; running it twice changes nothing.
        Returns ``{"element", "edge", "cut", "relabelled": {"6->4": n, ...}}``.
        """
        from larch_motif.labels import STRONG_BOND_CUT_BY_ELEMENT, strong_bond_label

        if not self.writable:
            raise DatabaseError(f"{self.path} is open read-only")
        cut = STRONG_BOND_CUT_BY_ELEMENT.get(element)
        if cut is None:
            return {"element": element, "edge": edge, "cut": None, "relabelled": {}}
        moved: Counter = Counter()
        rows = self.conn.execute(
            "SELECT site_id, structure_id, cn, motif, ligands, cluster FROM sites WHERE element=? AND edge=? "
            "AND cn IN (5, 6) AND cluster IS NOT NULL", (element, edge)).fetchall()
        with self.conn:
            touched: dict[str, dict] = {}
            for row in rows:
                cluster = json.loads(row["cluster"])
                strong = strong_bond_label(row["cn"], row["ligands"], cluster["symbols"], np.array(cluster["coords_A"]),
                                           cut)
                if strong is None:
                    continue
                self.conn.execute("UPDATE sites SET cn=?, motif=? WHERE site_id=? AND element=? AND edge=?",
                                  (strong[0], strong[1], row["site_id"], element, edge))
                touched.setdefault(row["structure_id"], {})[row["site_id"]] = row["motif"]
                moved[f"{row['cn']}->{strong[0]}"] += 1
            for structure_id, labels in touched.items():
                (notes,) = self.conn.execute("SELECT notes FROM structures WHERE structure_id=? AND element=? AND "
                                             "edge=?", (structure_id, element, edge)).fetchone()
                notes = json.loads(notes) if notes else {}
                notes.setdefault("chemenv_labels", {}).update(labels)
                self.conn.execute("UPDATE structures SET notes=? WHERE structure_id=? AND element=? AND edge=?",
                                  (json.dumps(notes), structure_id, element, edge))
                self.conn.execute("DELETE FROM compounds WHERE structure_id=? AND element=? AND edge=?",
                                  (structure_id, element, edge))
        self.refresh_compounds(element, edge)
        return {"element": element, "edge": edge, "cut": cut, "relabelled": dict(sorted(moved.items()))}

    def finalize(self) -> None:
        """Fold the WAL into the file and leave it in rollback mode, so it reads read-only.

        While another process has the file open (a reader, a refused second build) the switch
        is not possible; the file then stays in WAL mode, complete, and the next build ends it.
        """
        self.conn.commit()
        self.conn.execute("PRAGMA busy_timeout = 5000")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:  # "database is locked": every result is committed
            pass

    # -- reading ---------------------------------------------------------------------------
    def done_structures(self, element: str, edge: str, include_failed: bool = True) -> set[str]:
        """Ids of structures already read (with the failed ones unless ``include_failed``)."""
        rows = self.conn.execute(
            "SELECT structure_id FROM structures WHERE element=? AND edge=?"
            + ("" if include_failed else " AND status='done'"), (element, edge)
        )
        return {r[0] for r in rows}

    def pending_sites(self, element: str, edge: str, retry_failed: bool = False) -> list[sqlite3.Row]:
        """Sites to calculate: pending ones, and with ``retry_failed`` the failed ones that have a
        cluster (a site that failed before its cluster was cut, e.g. without a ChemEnv
        environment, is redone only by reading its structure again)."""
        states = ("pending", "failed") if retry_failed else ("pending",)
        return self.conn.execute(
            f"SELECT site_id, structure_id, cluster, ligands, failure_reason FROM sites WHERE element=? AND edge=? "
            f"AND status IN ({','.join('?' * len(states))}) AND cluster IS NOT NULL ORDER BY site_id",
            (element, edge, *states),
        ).fetchall()

    def stored_clusters(self, element: str, edge: str = "K") -> dict[str, list[tuple[int, str | None]]]:
        """(multiplicity, stored cluster JSON) of every absorber site, by structure id, for the
        structures read without failure (what ``build_database(refresh=True)`` compares)."""
        out: dict[str, list[tuple[int, str | None]]] = defaultdict(list)
        for row in self.conn.execute(
            "SELECT s.structure_id, s.multiplicity, s.cluster FROM sites s JOIN structures t "
            "ON s.structure_id=t.structure_id AND s.element=t.element AND s.edge=t.edge "
            "WHERE s.element=? AND s.edge=? AND t.status='done' ORDER BY s.site_id", (element, edge)):
            out[row[0]].append((int(row[1]), row[2]))
        return dict(out)

    def forget_structure(self, structure_id: str, element: str, edge: str = "K") -> None:
        """Delete a structure with its sites and compound spectrum (committed), so that the
        next build reads and computes it again."""
        if not self.writable:
            raise DatabaseError(f"{self.path} is open read-only")
        with self.conn:
            for table in ("sites", "compounds", "structures"):
                self.conn.execute(f"DELETE FROM {table} WHERE structure_id=? AND element=? AND edge=?",
                                  (structure_id, element, edge))

    def count_sites(self, element: str, edge: str = "K", status: str | None = None) -> int:
        """Number of sites of an element (of one ``status``: done, failed, pending; default all)."""
        query = "SELECT COUNT(*) FROM sites WHERE element=? AND edge=?"
        args: tuple = (element, edge)
        if status is not None:
            query, args = query + " AND status=?", (*args, status)
        return self.conn.execute(query, args).fetchone()[0]

    def elements(self) -> list[tuple[str, str]]:
        rows = self.conn.execute("SELECT DISTINCT element, edge FROM sites ORDER BY element, edge")
        return [(r[0], r[1]) for r in rows]

    def _arrays(self, row: sqlite3.Row, what: str) -> tuple[np.ndarray, np.ndarray]:
        if blob_crc(row["energy"], row["mu"]) != row["crc"]:
            raise DatabaseError(f"{self.path}: checksum mismatch in {what}: the file was altered")
        return unpack_array(row["energy"]), unpack_array(row["mu"])

    def site_spectra(self, element: str, edge: str = "K") -> list[dict]:
        """Every computed site of an element: labels, descriptors, mineral, energy (eV), mu."""
        rows = self.conn.execute(
            "SELECT s.*, t.mineral FROM sites s JOIN structures t ON s.structure_id=t.structure_id "
            "AND s.element=t.element AND s.edge=t.edge WHERE s.element=? AND s.edge=? "
            "AND s.status='done' ORDER BY s.site_id",
            (element, edge),
        ).fetchall()
        out = []
        for row in rows:
            energy, mu = self._arrays(row, f"site {row['site_id']}")
            d = {k: row[k] for k in row.keys() if k not in ("energy", "mu", "crc", "cluster")}
            d.update(energy_eV=energy, mu=mu)
            out.append(d)
        return out

    def compound_spectra(self, element: str, edge: str = "K") -> list[dict]:
        """Compound spectra of an element: site-averaged CN, motif fractions, energy (eV), mu."""
        rows = self.conn.execute(
            "SELECT * FROM compounds WHERE element=? AND edge=? ORDER BY structure_id", (element, edge)
        ).fetchall()
        out = []
        for row in rows:
            energy, mu = self._arrays(row, f"compound {row['structure_id']}")
            d = {k: row[k] for k in row.keys() if k not in ("energy", "mu", "crc")}
            d["motif_fractions"] = json.loads(d["motif_fractions"])
            d.update(energy_eV=energy, mu=mu)
            out.append(d)
        return out

    def refresh_compounds(self, element: str, edge: str) -> int:
        """Form the compound spectrum of every structure whose sites are all computed.

        The sites' spectra are interpolated onto the first site's energy grid and averaged with
        the site multiplicities as weights. A structure with a failed site gets no compound.
        Returns the number of compounds written.
        """
        by_structure: dict[str, list[sqlite3.Row]] = defaultdict(list)
        for row in self.conn.execute(
            "SELECT s.*, t.mineral FROM sites s JOIN structures t ON s.structure_id=t.structure_id "
            "AND s.element=t.element AND s.edge=t.edge WHERE s.element=? AND s.edge=? ORDER BY s.site_id",
            (element, edge),
        ):
            by_structure[row["structure_id"]].append(row)
        have = {r[0] for r in self.conn.execute(
            "SELECT structure_id FROM compounds WHERE element=? AND edge=?", (element, edge))}
        written = 0
        for sid, rows in by_structure.items():
            if sid in have or any(r["status"] != "done" for r in rows):
                continue
            weights = np.array([r["multiplicity"] for r in rows], float)
            spectra = [self._arrays(r, f"site {r['site_id']}") for r in rows]
            grid = spectra[0][0]
            mu = sum(w * np.interp(grid, e, m) for w, (e, m) in zip(weights, spectra)) / weights.sum()
            cn_mean = float(np.dot(weights, [r["cn"] for r in rows]) / weights.sum())
            fractions: Counter = Counter()
            for w, r in zip(weights, rows):
                fractions[r["motif"]] += w / weights.sum()
            e_blob, mu_blob = pack_array(grid), pack_array(mu)
            self.conn.execute(
                "INSERT OR REPLACE INTO compounds VALUES (?,?,?,?,?,?,?,?,?,?)",
                (sid, element, edge, rows[0]["mineral"], len(rows), cn_mean,
                 json.dumps(dict(sorted(fractions.items()))), e_blob, mu_blob, blob_crc(e_blob, mu_blob)),
            )
            written += 1
        self.conn.commit()
        return written

    def content_hash(self, element: str, edge: str = "K") -> str:
        """SHA-256 over the computed site spectra and labels of an element (for model files)."""
        import hashlib

        h = hashlib.sha256()
        for row in self.conn.execute(
            "SELECT site_id, cn, motif, crc FROM sites WHERE element=? AND edge=? AND status='done' "
            "ORDER BY site_id", (element, edge)):
            h.update(repr(tuple(row)).encode())
        return h.hexdigest()

    def info(self) -> dict:
        """Counts by element: sites, compounds, minerals, CN, motif, failures by reason."""
        out: dict = {"path": str(self.path), "elements": {}}
        for element, edge in self.elements():
            done = self.conn.execute(
                "SELECT s.cn, s.motif, t.mineral FROM sites s JOIN structures t ON "
                "s.structure_id=t.structure_id AND s.element=t.element AND s.edge=t.edge "
                "WHERE s.element=? AND s.edge=? AND s.status='done'", (element, edge)).fetchall()
            failures: Counter = Counter()
            for (reason,) in self.conn.execute(
                "SELECT failure_reason FROM sites WHERE element=? AND edge=? AND status='failed'",
                (element, edge)):
                failures[reason] += 1
            for (reason,) in self.conn.execute(
                "SELECT failure_reason FROM structures WHERE element=? AND edge=? AND status='failed'",
                (element, edge)):
                failures[reason] += 1
            pending = self.count_sites(element, edge, "pending")
            n_compounds = self.conn.execute(
                "SELECT COUNT(*) FROM compounds WHERE element=? AND edge=?", (element, edge)).fetchone()[0]
            out["elements"][element] = {
                "edge": edge,
                "n_sites": len(done),
                "n_compounds": n_compounds,
                "n_minerals": len({r["mineral"] for r in done}),
                "cn": {str(k): v for k, v in sorted(Counter(r["cn"] for r in done).items())},
                "motif": dict(Counter(r["motif"] for r in done).most_common()),
                "failures": dict(failures.most_common()),
                "pending": pending,
                "calculation": self.calculation(element, edge),
            }
        return out

    # -- export ------------------------------------------------------------------------------
    def export_hdf5(self, path: str | os.PathLike) -> None:
        """Write every site and compound spectrum with labels to an HDF5 file."""
        import h5py

        with h5py.File(path, "w") as h5:
            h5.attrs["creator"] = "larch_motif"
            for element, edge in self.elements():
                top = h5.create_group(f"{element}_{edge}")
                for name, rows in (("sites", self.site_spectra(element, edge)),
                                   ("compounds", self.compound_spectra(element, edge))):
                    grp = top.create_group(name)
                    for k, row in enumerate(rows):
                        g = grp.create_group(f"{k:05d}")
                        g["energy_eV"] = row["energy_eV"]
                        g["mu"] = row["mu"]
                        for key, value in row.items():
                            if key in ("energy_eV", "mu") or value is None:
                                continue
                            g.attrs[key] = json.dumps(value) if isinstance(value, dict) else value

    def export_csv(self, folder: str | os.PathLike) -> list[Path]:
        """Write ``sites.csv`` (labels, descriptors) and ``spectra.csv`` (long format) per element."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for element, edge in self.elements():
            rows = self.site_spectra(element, edge)
            labels_path = folder / f"{element}_{edge}_sites.csv"
            spectra_path = folder / f"{element}_{edge}_spectra.csv"
            keys = [k for k in rows[0] if k not in ("energy_eV", "mu")] if rows else []
            with open(labels_path, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=keys)
                writer.writeheader()
                for row in rows:
                    writer.writerow({k: row[k] for k in keys})
            with open(spectra_path, "w", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(["site_id", "energy_eV", "mu"])
                for row in rows:
                    for e, m in zip(row["energy_eV"], row["mu"]):
                        writer.writerow([row["site_id"], f"{e:.3f}", f"{m:.6f}"])
            written += [labels_path, spectra_path]
        return written

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SpectralDatabase:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_database(path: str | os.PathLike | None = None) -> SpectralDatabase:
    """Open a database for reading; ``None`` means the bundled default."""
    db_path = Path(path) if path is not None else default_database_path()
    if path is None and not db_path.exists():
        raise LarchMotifError("the bundled default database is missing from this installation")
    return SpectralDatabase(db_path)
