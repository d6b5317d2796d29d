"""Database build throughput: spectra per core-minute, 1 -> 2 worker speed-up, peak memory.

Builds the same AMCSD Fe structures twice into fresh databases (default calculation
parameters), once with one worker and once with two, and reports wall time, spectra per
core-minute, the speed-up and the peak resident memory of the worker processes.

    .venv/bin/python benchmarks/build_throughput.py --limit 12 [--write docs/validation/build_throughput.md]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from validation_page import emit, machine, provenance

from larch_motif.build import build_database
from larch_motif.database import SpectralDatabase


def run(limit: int, workers: int, folder: Path) -> dict:
    db = folder / f"w{workers}.sqlite"
    t0 = time.perf_counter()
    report = build_database("Fe", db=db, limit=limit, workers=workers, progress=False)
    wall = time.perf_counter() - t0
    with SpectralDatabase(db) as store:
        per_site = [s["seconds"] for s in store.site_spectra("Fe")]
    return {"workers": workers, "sites": report.sites_new, "wall_s": round(wall, 1),
            "spectra_per_core_minute": round(report.sites_new / (wall / 60) / workers, 2),
            "mean_s_per_site": round(sum(per_site) / max(len(per_site), 1), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=12, help="AMCSD Fe structures")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one = run(args.limit, 1, Path(tmp))
        two = run(args.limit, 2, Path(tmp))
    peak_children_MB = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    out = {"one_worker": one, "two_workers": two,
           "speedup_1_to_2": round(one["wall_s"] / two["wall_s"], 2),
           "peak_worker_memory_MB": round(peak_children_MB, 1)}
    if args.write is None:
        print(json.dumps(out, indent=1))
        return
    lines = ["# Database build throughput", "",
             provenance() + f"; {machine()} at the end. The first {args.limit} AMCSD Fe structures built "
             "into a fresh database with the default calculation parameters (no SCF), once with one worker "
             "and once with two. Spectra per core-minute: site spectra / wall minutes / workers; FEFF10 "
             "time: the stored per-site calculation time.", "",
             "| workers | sites | wall time (s) | spectra per core-minute | mean FEFF10 time per site (s) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['workers']} | {r['sites']} | {r['wall_s']} | {r['spectra_per_core_minute']} | "
              f"{r['mean_s_per_site']} |" for r in (one, two)]
    lines += ["", f"Speed-up from 1 to 2 workers: {out['speedup_1_to_2']}; peak resident memory of a worker "
              f"process: {out['peak_worker_memory_MB']:.0f} MB.", ""]
    emit("\n".join(lines), args.write, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
