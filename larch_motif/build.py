"""Building the spectral database: structures -> labels -> calculator -> store.

Two kinds of task run in a process pool (or on a Dask cluster): preparing a structure (parse,
order, symmetry-unique absorber sites, ChemEnv labels, clusters) and calculating one site's
spectrum. Workers return plain dicts; only this process writes to the database, one committed
row per result, so an interrupted build loses at most the tasks in flight and resumes.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import numpy as np

from larch_motif.calculators import CalculationParameters, Cluster, get_calculator
from larch_motif.database import SpectralDatabase
from larch_motif.errors import LarchMotifError
from larch_motif.labels import SITE_DOMAINS, in_site_domain
from larch_motif.structures import (
    StructureEntry,
    absorber_sites,
    amcsd_entry,
    check_element_edge,
    cluster_around,
    structure_entries,
    substituted,
)

PREPARE_TIMEOUT_S = 300


@dataclass
class BuildReport:
    """What a build did: counts of new results and failures, seconds of wall time."""

    db_path: str
    element: str
    edge: str
    structures_new: int = 0
    structures_refreshed: int = 0
    sites_new: int = 0
    sites_failed: int = 0
    compounds_new: int = 0
    seconds: float = 0.0
    failures: dict = field(default_factory=dict)

    def count_failure(self, reason: str) -> None:
        """Add one structure or site that failed (or was left out) for ``reason``."""
        self.failures[reason] = self.failures.get(reason, 0) + 1


class Progress:
    """One status line on stderr: counts, rate and estimated time left.

    The rate counts only the sites calculated in this run: a resumed build starts with many
    sites already done, and sites left out by the site domain finish at once; counting them
    would give a rate far too high and an ETA near zero.
    """

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled and sys.stderr is not None
        self.label = label
        self.t0 = time.monotonic()
        self.last = 0.0
        self.sites_at_start = 0

    def start(self, sites_done: int) -> None:
        """Set the count of sites already done when this run began (not counted in the rate)."""
        self.sites_at_start = sites_done

    def skip(self, n: int = 1) -> None:
        """Sites finished without a calculation (left out by the site domain): not in the rate."""
        self.sites_at_start += n

    def rate_per_min(self, sites_done: int, now: float) -> float:
        """Sites finished per minute in this run."""
        minutes = (now - self.t0) / 60
        return (sites_done - self.sites_at_start) / minutes if minutes > 0 else 0.0

    def update(self, structures: tuple[int, int], sites: tuple[int, int], force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self.last < 1.0):
            return
        self.last = now
        rate = self.rate_per_min(sites[0], now)
        left = sites[1] - sites[0]
        eta = f"{left / rate:.1f} min" if rate > 0 else "?"
        sys.stderr.write(
            f"\r{self.label}: structures {structures[0]}/{structures[1]}, "
            f"sites {sites[0]}/{sites[1]}, {rate:.1f} sites/min, ETA {eta}   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _alarm(seconds: int) -> bool:
    """Arm SIGALRM in a worker's main thread (process pools); Dask threads cannot use it."""
    if threading.current_thread() is not threading.main_thread():
        return False

    def raise_timeout(signum: int, frame: object) -> None:
        raise TimeoutError(f"structure preparation took more than {seconds} s")

    signal.signal(signal.SIGALRM, raise_timeout)
    signal.alarm(seconds)
    return True


def prepare_structure(entry: StructureEntry, element: str, edge: str, cluster_radius_A: float) -> dict:
    """Worker task: find the absorber sites of a parsed entry, label them, cut clusters."""
    from larch_motif.labels import STRONG_BOND_CUT_BY_ELEMENT, site_labels, strong_bond_label

    armed = _alarm(PREPARE_TIMEOUT_S)
    row = {"structure_id": entry.structure_id, "element": element, "edge": edge,
           "mineral": entry.mineral, "formula": entry.formula, "source": entry.source,
           "status": "done", "failure_reason": None, "error": None, "notes": dict(entry.notes)}
    sites_out: list[dict] = []
    try:
        if entry.structure is None:
            raise LarchMotifError(entry.error or "structure not parsed")
        sites, skipped = absorber_sites(entry, element)
        row["notes"]["skipped_sites"] = skipped
        if not sites:
            raise LarchMotifError(skipped[0] if skipped else f"no {element} site")
        labels = site_labels(entry.structure, [s.site_index for s in sites])
        for site in sites:
            site_row = {"site_id": f"{entry.structure_id}#{site.site_index}",
                        "structure_id": entry.structure_id, "element": element, "edge": edge,
                        "site_index": site.site_index, "multiplicity": site.multiplicity,
                        "occupancy": site.occupancy, "wyckoff": site.wyckoff}
            label = labels.get(site.site_index)
            if label is None:
                site_row.update(status="failed", failure_reason="no ChemEnv environment",
                                error="ChemEnv found no coordination environment")
            else:
                symbols, coords = cluster_around(entry.structure, site.site_index, cluster_radius_A)
                site_row.update(label)
                cut = STRONG_BOND_CUT_BY_ELEMENT.get(element)
                strong = strong_bond_label(label["cn"], label["ligands"], list(symbols), coords, cut) if cut else None
                if strong is not None:  # ChemEnv's own label stays in the structure's notes
                    row["notes"].setdefault("chemenv_labels", {})[site_row["site_id"]] = label["motif"]
                    site_row.update(cn=strong[0], motif=strong[1])
                site_row.update(status="pending", cluster=json.dumps(
                    {"symbols": symbols, "coords_A": np.round(coords, 5).tolist()}))
            sites_out.append(site_row)
    except Exception as exc:  # any failure of one structure is recorded; the build goes on
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        row.update(status="failed", error=message[:400], failure_reason=failure_reason(message))
        sites_out = []
    finally:
        if armed:
            signal.alarm(0)
    return {"structure": row, "sites": sites_out}


def structure_changed(entry: StructureEntry, element: str, stored: list[tuple[int, str | None]],
                      cluster_radius_A: float) -> bool:
    """Whether a structure read again no longer gives the stored absorber sites and clusters.

    ``stored``: (multiplicity, cluster JSON) of each stored absorber site (JSON ``None`` for a
    site that has none, e.g. without a ChemEnv environment). Clusters are compared by their
    atoms' elements and distances to the absorber (within ``SAME_DISTANCE_A``), so a neighbour
    added, left out or moved counts; the order of equidistant atoms and the sites' indices in
    the cell (which a change of ordering may renumber) do not.
    """
    if entry.structure is None:
        return True
    sites, _ = absorber_sites(entry, element)
    if sorted(s.multiplicity for s in sites) != sorted(m for m, _ in stored):
        return True
    if any(cluster is None for _, cluster in stored):  # nothing to compare: keep it
        return False
    unmatched = [(m, _shells(c["symbols"], np.asarray(c["coords_A"], float)))
                 for m, c in ((m, json.loads(js)) for m, js in stored)]
    for site in sites:
        shells = _shells(*cluster_around(entry.structure, site.site_index, cluster_radius_A))
        match = next((k for k, (m, old) in enumerate(unmatched)
                      if m == site.multiplicity and _same_shells(old, shells)), None)
        if match is None:
            return True
        unmatched.pop(match)
    return False


#: distances to the absorber that differ by less than this (Angstrom) count as the same
SAME_DISTANCE_A = 0.01


def _shells(symbols: list[str], coords_A: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted distances to the absorber (Angstrom) of a cluster's atoms, by element."""
    distances = np.linalg.norm(np.atleast_2d(coords_A), axis=1)
    symbols = np.asarray(symbols)
    return {el: np.sort(distances[symbols == el]) for el in np.unique(symbols)}


def _same_shells(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(
        a[el].size == b[el].size and np.all(np.abs(a[el] - b[el]) < SAME_DISTANCE_A) for el in a)


def failure_reason(message: str) -> str:
    """A short category for a failure message (what ``db info`` counts)."""
    lowered = message.lower()
    for needle, reason in (
        ("cif parse error", "CIF parse error"),
        ("incomplete cif", "incomplete CIF"),
        ("occupancy", "absorber minority on a disordered site"),
        ("timeout", "timeout"),
        ("took more than", "timeout"),
        ("no xmu.dat", "FEFF10 wrote no spectrum"),
        ("bad electron counts", "FEFF10 SCF bad counts"),
        ("subroutine corval", "FEFF10 SCF corval"),
        ("feff10 failed", "FEFF10 failed"),
        ("unusable spectrum", "FEFF10 unusable spectrum"),
        ("chemenv", "no ChemEnv environment"),
        ("no non-hydrogen", "CIF parse error"),
    ):
        if needle in lowered:
            return reason
    if lowered.startswith("no ") and "site" in lowered:
        return "no absorber site"
    return "other: " + message[:60]


def calculate_site(site_id: str, cluster_json: str, params: CalculationParameters, calculator: str) -> dict:
    """Worker task: one spectrum from a stored cluster, or the failure with its reason."""
    try:
        data = json.loads(cluster_json)
        cluster = Cluster(tuple(data["symbols"]), np.array(data["coords_A"]), title=site_id)
        spectrum = get_calculator(calculator).calculate(cluster, params)
        return {"site_id": site_id, "energy_eV": spectrum.energy_eV, "mu": spectrum.mu,
                "seconds": spectrum.seconds, "calculator": spectrum.calculator,
                "calculator_version": spectrum.calculator_version}
    except Exception as exc:  # CalculationError, bad cluster data, a crashed calculator: recorded
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return {"site_id": site_id, "error": message[:400], "failure_reason": failure_reason(message)}


def _worker_init(lock_fd: int | None, build_pid: int) -> None:
    """Start of a forked worker: let go of the build lock, and die with the build process.

    Without this, workers orphaned by a SIGKILL of the build process keep the inherited lock
    (and wait forever for tasks), so the resumed build would be refused.
    """
    if lock_fd is not None:
        with contextlib.suppress(OSError):
            os.close(lock_fd)
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != build_pid:  # the build process died before prctl took effect
            os._exit(1)


def _executor(workers: int | None, scheduler: str | None,
              lock_fd: int | None = None) -> tuple[cf.Executor, object]:
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise LarchMotifError("--scheduler needs dask.distributed (pip install 'dask[distributed]')") from exc
        client = scheduler if not isinstance(scheduler, str) else Client(scheduler, timeout="20s")
        return client.get_executor(), client
    import multiprocessing

    n = workers or os.cpu_count() or 1
    return cf.ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("fork"),
                                  initializer=_worker_init, initargs=(lock_fd, os.getpid())), None


def build_database(
    element: str,
    edge: str = "K",
    db: str | os.PathLike | None = None,
    source: object = "amcsd",
    limit: int | None = None,
    per_mineral: int = 1,
    workers: int | None = None,
    scheduler: object = None,
    params: CalculationParameters | None = None,
    calculator: str = "feff10",
    retry_failed: bool = False,
    progress: bool = True,
    site_domain: str = "all",
    refresh: bool = False,
) -> BuildReport:
    """Compute (or complete) the database of ``element``'s ``edge`` from a structure source.

    source: ``'amcsd'`` (the AMCSD shipped with larixite), a folder of CIF files, or an iterable
    of pymatgen ``Structure``. ``limit`` takes the first N structures, ``per_mineral`` CIFs per
    AMCSD mineral. ``workers`` processes (default: all cores), or a Dask ``scheduler`` address
    (or ``distributed.Client``). Already computed sites are kept; ``retry_failed`` recomputes
    failed ones. ``site_domain`` ``'anion'`` computes only the sites whose ligands are all
    anions (``labels.in_site_domain``, the sites the default models train on) and records the
    others as failed with the reason ``outside the site domain``, not computed: an expensive
    setting (SCF) then costs nothing for the intermetallic sites. ``refresh`` reads every
    computed structure again and recomputes those whose absorber sites or clusters are no
    longer what the stored ones are (``structure_changed``: after a change of the
    partial-occupancy policy of ``structures.order_structure``); the others keep their spectra.
    Returns a ``BuildReport`` (``structures_refreshed`` counts those recomputed).
    """
    check_element_edge(element, edge)
    if site_domain not in SITE_DOMAINS:
        raise LarchMotifError(f"unknown site domain {site_domain!r} (choose from {', '.join(SITE_DOMAINS)})")
    params = params or CalculationParameters(edge=edge)
    if params.edge != edge:
        params = CalculationParameters(**{**params.as_dict(), "edge": edge})
    get_calculator(calculator)  # unknown name: clear error before any work
    if db is None:
        from larch_motif.database import default_database_path

        db = default_database_path()
    store = SpectralDatabase(db, writable=True)
    report = BuildReport(str(store.path), element, edge)
    t0 = time.monotonic()
    with store, store.build_lock():  # closed also when the lock is refused: no open reader left
        store.check_parameters(element, edge, params.as_dict(), calculator)
        store.set_meta("larch_motif_version", _version())
        done = store.done_structures(element, edge, include_failed=not retry_failed)
        stored = store.stored_clusters(element, edge) if refresh else {}
        entries = structure_entries(source, element, limit=limit, per_mineral=per_mineral)
        tasks = _TaskPool(workers, scheduler, store.lock_fd)
        bar = Progress(progress, f"{element} {edge}")
        n_struct_total = n_struct_done = 0
        try:
            for entry in entries:
                n_struct_total += 1
                if entry.structure_id in done:
                    if not (entry.structure_id in stored and structure_changed(
                            entry, element, stored[entry.structure_id], params.cluster_radius_A)):
                        n_struct_done += 1
                        continue
                    store.forget_structure(entry.structure_id, element, edge)  # read again below
                    report.structures_refreshed += 1
                tasks.add("prepare", entry.structure_id, prepare_structure, entry, element, edge,
                          params.cluster_radius_A)

            def leave_out(site_id: str) -> None:
                """Record a site outside ``site_domain`` as failed, not computed."""
                store.write_site_result(site_id, element, edge, _outside_domain(site_domain))
                report.count_failure(OUTSIDE_DOMAIN)

            pending = store.pending_sites(element, edge, retry_failed=retry_failed)
            left_out = 0
            for row in pending:
                if not in_site_domain(row["ligands"], site_domain):
                    if row["failure_reason"] != OUTSIDE_DOMAIN:
                        leave_out(row["site_id"])
                    left_out += 1
                    continue
                tasks.add("calculate", row["site_id"], calculate_site, row["site_id"], row["cluster"],
                          params, calculator)
            n_sites_total = store.count_sites(element, edge)
            n_sites_done = n_sites_total - len(pending) + left_out
            bar.start(n_sites_done)
            while tasks:
                for kind, key, result in tasks.results():
                    if isinstance(result, Exception):  # a worker died (killed, out of memory): record it
                        result = _lost_worker_result(kind, key, element, edge, result)
                    if kind == "prepare":
                        n_struct_done += 1
                        report.structures_new += 1
                        store.write_structure(result["structure"])
                        if result["structure"]["status"] == "failed":
                            report.count_failure(result["structure"]["failure_reason"])
                        for site in result["sites"]:
                            store.write_pending_site(site)
                            n_sites_total += 1
                            if site["status"] == "pending" and not in_site_domain(site.get("ligands"), site_domain):
                                leave_out(site["site_id"])
                                n_sites_done += 1
                                bar.skip()
                            elif site["status"] == "pending":
                                tasks.add("calculate", site["site_id"], calculate_site, site["site_id"],
                                          site["cluster"], params, calculator)
                            else:
                                n_sites_done += 1
                        store.commit()
                    else:
                        store.write_site_result(key, element, edge, result)
                        n_sites_done += 1
                        if result.get("error"):
                            report.sites_failed += 1
                            report.count_failure(result["failure_reason"])
                        else:
                            report.sites_new += 1
                    bar.update((n_struct_done, n_struct_total), (n_sites_done, n_sites_total))
            bar.update((n_struct_done, n_struct_total), (n_sites_done, n_sites_total), force=True)
        finally:
            bar.close()
            tasks.close(scheduler)
        report.compounds_new = store.refresh_compounds(element, edge)
        store.relabel_strong_bonds(element, edge)  # rows a build before the strong-bond count wrote
        store.finalize()
    report.seconds = time.monotonic() - t0
    return report


#: The rare motifs of an element and the donors whose AMCSD structures carry them
#: (``build_derived``): tetrahedral Mn (13 sites of its own) from tetrahedral Zn, Co, Fe and the
#: chromates' Cr; tetrahedral and square-planar Ni (4 and 4) from Zn, Co and Cu; tetrahedral
#: and square-pyramidal Ti (3 and 6: CN 4 is no class of its models) from the vanadates
DERIVED_DONORS: dict[str, dict[str, tuple[str, ...]]] = {
    "Mn": {"Zn": ("T:4",), "Co": ("T:4",), "Cr": ("T:4",), "Fe": ("T:4",)},
    "Ni": {"Zn": ("T:4",), "Co": ("T:4",), "Cu": ("S:4",)},
    "Ti": {"V": ("T:4", "S:5")},
}
#: The oxidation state a derived element takes where it is not the donor's (no Ti5+ exists)
DERIVED_OXIDATION_STATE: dict[str, int] = {"Ti": 4}


def derived_entries(element: str, donors: dict[str, tuple[str, ...]], store: SpectralDatabase,
                    per_donor: int | None = None) -> list[StructureEntry]:
    """Entries derived from the AMCSD structures whose ``donor`` sites have one of the motifs
    ``donors[donor]`` in ``store`` (the donor's own labels), ``element`` put on every donor
    site (``structures.substituted``): ``per_donor`` structures of each donor at most, by
    structure id. The oxidation state of a donor site is its bond-valence label, else the one
    most of the donor's sites of that motif have."""
    entries = []
    for donor, motifs in donors.items():
        sites = [s for s in store.site_spectra(donor) if s["motif"] in motifs
                 and str(s["structure_id"]).startswith("amcsd:")]
        states = [round(s["oxidation_state"]) for s in sites if s["oxidation_state"] is not None]
        usual = max(set(states), key=states.count) if states else None
        by_structure: dict[str, list[dict]] = {}
        for s in sites:
            by_structure.setdefault(s["structure_id"], []).append(s)
        for structure_id in sorted(by_structure, key=lambda k: int(k.split(":")[1]))[:per_donor]:
            mine = by_structure[structure_id]
            known = [round(s["oxidation_state"]) for s in mine if s["oxidation_state"] is not None]
            state = max(set(known), key=known.count) if known else usual
            parent = amcsd_entry(int(structure_id.split(":")[1]))
            if state is None:
                entries.append(StructureEntry(f"derived:{donor}>{element}:{structure_id}", parent.mineral, "",
                                              f"derived from {structure_id}", error="no oxidation state"))
                continue
            entries.append(substituted(parent, donor, element, int(state), int(mine[0]["cn"]),
                                       float(np.mean([s["bond_mean_A"] for s in mine])),
                                       square_planar=mine[0]["motif"] == "S:4",
                                       element_oxidation_state=DERIVED_OXIDATION_STATE.get(element)))
    return entries


def build_derived(element: str, db: str | os.PathLike, donors: dict[str, tuple[str, ...]] | None = None,
                  per_donor: int | None = None, workers: int | None = None, timeout_s: float = 300.0,
                  progress: bool = True, params: CalculationParameters | None = None) -> BuildReport:
    """Compute the spectra of structures derived for ``element``'s rare motifs into ``db``
    (a database of derived spectra, kept apart from the bundled one): ``donors`` (default
    ``DERIVED_DONORS[element]``) name the donor elements and motifs (``derived_entries``),
    and the calculation settings are those of ``element`` in the bundled database, so that a
    derived spectrum is computed exactly as the element's own (``params`` sets others, for
    tests). Only anion-coordinated sites are computed. Resumes as ``build_database`` does."""
    from larch_motif.database import open_database

    donors = donors or DERIVED_DONORS.get(element)
    if not donors:
        raise LarchMotifError(f"no donors of derived structures for {element} "
                              f"(known: {', '.join(DERIVED_DONORS)}); give them")
    with open_database(None) as store:
        calculation = store.calculation(element)
        if calculation is None:
            raise LarchMotifError(f"the bundled database has no {element} calculation settings")
        entries = derived_entries(element, donors, store, per_donor)
    params = params or CalculationParameters(**{
        **calculation["parameters"], "timeout_s": timeout_s,
        "extra_cards": tuple(calculation["parameters"].get("extra_cards") or ())})
    return build_database(element, db=db, source=entries, params=params, calculator=calculation["calculator"],
                          workers=workers, progress=progress, site_domain="anion")


class _TaskPool:
    """The build's tasks on an executor, at most one per worker in flight (the rest wait here).

    A worker process that dies (a calculator that crashes its process, the OOM killer) breaks
    a process pool and every task in it: the tasks that were in flight are run again one at a
    time in a fresh pool, and one that ends its worker while running alone is returned as its
    exception (recorded as failed); the build goes on. Dask reschedules by itself.
    """

    def __init__(self, workers: int | None, scheduler: object, lock_fd: int | None) -> None:
        self._start = lambda: _executor(workers, scheduler, lock_fd)
        self.executor, self.client = self._start()
        self.capacity = (workers or os.cpu_count() or 1) if self.client is None else sys.maxsize
        self.waiting: deque[tuple] = deque()
        self.suspects: deque[tuple] = deque()  # in flight when a worker died: run one at a time
        self.running: dict[cf.Future, tuple] = {}

    def add(self, kind: str, key: str, function: Callable, *args: object) -> None:
        self.waiting.append((kind, key, function, args))

    def __bool__(self) -> bool:
        return bool(self.waiting or self.suspects or self.running)

    def _submit(self, task: tuple, alone: bool) -> None:
        self.running[self.executor.submit(task[2], *task[3])] = (*task, alone)

    def results(self, timeout_s: float = 1.0) -> list[tuple[str, str, object]]:
        """Wait up to ``timeout_s`` for tasks to end: (kind, key, result or exception) of each."""
        if self.suspects:
            if not self.running:
                self._submit(self.suspects.popleft(), alone=True)
        else:
            while self.waiting and len(self.running) < self.capacity:
                self._submit(self.waiting.popleft(), alone=False)
        finished, _ = cf.wait(self.running, timeout=timeout_s, return_when=cf.FIRST_COMPLETED)
        out, broken = [], False
        for fut in finished:
            kind, key, function, args, alone = self.running.pop(fut)
            try:
                out.append((kind, key, fut.result()))
            except BrokenProcessPool as exc:
                broken = True
                if alone:
                    out.append((kind, key, exc))
                else:
                    self.suspects.append((kind, key, function, args))
            except Exception as exc:
                out.append((kind, key, exc))
        if broken:  # every other task of the pool is lost with it
            for fut, (kind, key, function, args, _) in self.running.items():
                if fut.done() and not fut.cancelled() and fut.exception() is None:
                    out.append((kind, key, fut.result()))
                else:
                    self.suspects.append((kind, key, function, args))
            self.running.clear()
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor, _ = self._start()
        return out

    def close(self, scheduler: object) -> None:
        if self.client is None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        else:  # Dask's executor has no cancel_futures; cancel what is left by hand
            for fut in self.running:
                fut.cancel()
            self.executor.shutdown(wait=False)
            if isinstance(scheduler, str):
                self.client.close()


OUTSIDE_DOMAIN = "outside the site domain"


def _outside_domain(site_domain: str) -> dict:
    """The stored result of a site left out by ``site_domain`` (not computed)."""
    return {"error": f"not computed: a ligand is not an anion (site domain {site_domain!r}; "
                     "build with --site-domain all --retry-failed to compute it)",
            "failure_reason": OUTSIDE_DOMAIN}


def _lost_worker_result(kind: str, key: str, element: str, edge: str, exc: Exception) -> dict:
    if isinstance(exc, BrokenProcessPool):
        exc = RuntimeError("the task ended its worker process (crash, or killed)")
    message = f"worker lost: {type(exc).__name__}: {exc}"[:400]
    if kind == "prepare":
        return {"structure": {"structure_id": key, "element": element, "edge": edge,
                              "status": "failed", "failure_reason": "worker lost", "error": message},
                "sites": []}
    return {"site_id": key, "error": message, "failure_reason": "worker lost"}


def _version() -> str:
    from importlib.metadata import version

    return version("larch_motif")

