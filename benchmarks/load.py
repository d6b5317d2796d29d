"""Load: CN and motif of 100,000 measured-like spectra in batches, with bounded memory; and
``motif_predict`` on 500 Larch Groups in one Larch session.

Spectra are made on the fly from the bundled Fe K-edge site spectra, as a beamline would
measure them: Gaussian (0.8-2.5 eV FWHM) and Lorentzian (0.3-2.0 eV) broadening, an E0 shift of
up to 3 eV, 100 eV of sloped pre-edge, an edge step of 0.5-2.5 on an offset, and noise of
0.1-1 % of the step. They go through ``larch_motif.predict_iter`` (Larch ``pre_edge``, the
default models, the domain check) ``--batch-size`` at a time; nothing is kept but counts.
Prints throughput (spectra/s), peak resident memory (RSS, MB) and the RSS after each tenth.

    .venv/bin/python benchmarks/load.py --n 100000 --larch-groups 500 [--write docs/validation/load.md]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from validation_page import emit, machine, provenance

from larch_motif.database import open_database
from larch_motif.prediction import predict_iter
from larch_motif.spectra import broaden


def rss_mb() -> float:
    """Current resident memory of this process (MB)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def measured_like(sites: list[dict], n: int, seed: int = 0) -> Iterator[object]:
    """``n`` Larch Groups of measured-like spectra (energy in eV, raw mu), made one at a time."""
    from larch import Group

    rng = np.random.default_rng(seed)
    for k in range(n):
        site = sites[rng.integers(len(sites))]
        energy = site["energy_eV"] + rng.uniform(-3, 3)
        mu = broaden(energy, site["mu"], rng.uniform(0.8, 2.5), rng.uniform(0.3, 2.0))
        pre = np.arange(energy[0] - 100, energy[0], 1.0)
        e = np.concatenate([pre, energy])
        m = np.concatenate([np.full(pre.size, mu[0]), mu])
        step = rng.uniform(0.5, 2.5)
        raw = rng.uniform(0, 1) - rng.uniform(0, 5e-5) * (e - e[0]) + step * m
        raw += rng.normal(0, rng.uniform(0.001, 0.01) * step, raw.size)
        yield Group(energy=e, mu=raw, groupname=f"s{k}")


def run_load(sites: list[dict], n: int, batch_size: int) -> dict:
    counts: Counter = Counter()
    in_domain = errors = 0
    rss_trace = []
    t0 = time.perf_counter()
    results = predict_iter(measured_like(sites, n), element="Fe", target="both", batch_size=batch_size,
                           errors="flag")
    for k, res in enumerate(results, start=1):
        if "error" in res:
            errors += 1
        else:
            counts[res["cn"]] += 1
            in_domain += res["in_domain"]
        if k % max(n // 10, 1) == 0:
            rss_trace.append(round(rss_mb()))
            rate = k / (time.perf_counter() - t0)
            print(f"\r{k}/{n} spectra, {rate:.0f} spectra/s, RSS {rss_trace[-1]} MB   ", end="",
                  file=sys.stderr, flush=True)
    seconds = time.perf_counter() - t0
    print(file=sys.stderr)
    return {"n_spectra": n, "batch_size": batch_size, "seconds": round(seconds, 1),
            "spectra_per_s": round(n / seconds, 1), "peak_rss_MB": round(peak_rss_mb()),
            "rss_MB_each_tenth": rss_trace, "errors": errors, "in_domain": in_domain,
            "cn_counts": dict(counts.most_common())}


def run_larch(sites: list[dict], n_groups: int) -> dict:
    """``motif_predict`` on ``n_groups`` Groups of one Larch session: as one list, and one by one."""
    import io

    import larch

    from larch_motif.larch_plugin import INIT_LINE

    session = larch.Interpreter(writer=io.StringIO())
    session.eval(INIT_LINE)
    names = []
    for k, grp in enumerate(measured_like(sites, n_groups, seed=1)):
        name = f"g{k}"
        session.symtable.set_symbol(name, grp)
        names.append(name)
    session.eval(f"motif_predict([{names[0]}], element='Fe')")  # models loaded once, not timed
    t0 = time.perf_counter()
    session.eval(f"motif_predict([{', '.join(names)}], element='Fe')")
    as_list = time.perf_counter() - t0
    filled = sum(hasattr(session.symtable.get_symbol(n), "motif") for n in names)
    t0 = time.perf_counter()
    session.eval(f"for g in [{', '.join(names)}]:\n    motif_predict(g, element='Fe')\n#endfor")
    one_by_one = time.perf_counter() - t0
    errors = [err.get_error()[1] for err in session.error]
    return {"n_groups": n_groups, "list_s": round(as_list, 2), "one_by_one_s": round(one_by_one, 2),
            "groups_with_motif": filled, "larch_errors": errors[:3]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="spectra to predict")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--larch-groups", type=int, default=500, help="Groups in the Larch session (0: skip)")
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as db:
        sites = db.site_spectra("Fe")
    next(predict_iter(measured_like(sites, 1), element="Fe"))  # trains or loads the default models
    out = {"rss_MB_models_loaded": round(rss_mb())}
    if args.larch_groups:
        out["larch"] = run_larch(sites, args.larch_groups)
    out["load"] = run_load(sites, args.n, args.batch_size)
    if args.write is None:
        print(json.dumps(out, indent=1))
        return
    load = out["load"]
    lines = ["# Load: many spectra, many Larch groups", "",
             provenance() + f"; {machine()} at the end. Measured-like spectra made one at a time from the "
             "bundled Fe site spectra (Gaussian 0.8-2.5 eV and Lorentzian 0.3-2.0 eV broadening, E0 shift "
             "up to 3 eV, a sloped pre-edge, edge step 0.5-2.5, noise 0.1-1 % of the step; drawn from every "
             "site, while the default models train on the anion-coordinated ones) through "
             f"`larch_motif.predict_iter(..., batch_size={load['batch_size']}, errors=\"flag\")`: Larch "
             "normalization, the default models and the domain check; nothing is kept but counts.", "",
             "| spectra | seconds | spectra/s | RSS with the models loaded (MB) | peak RSS (MB) | "
             "RSS at each tenth (MB) | errors | in domain |", "|---|---|---|---|---|---|---|---|",
             f"| {load['n_spectra']} | {load['seconds']} | {load['spectra_per_s']} | {out['rss_MB_models_loaded']} | "
             f"{load['peak_rss_MB']} | {', '.join(map(str, load['rss_MB_each_tenth']))} | {load['errors']} | "
             f"{load['in_domain']} |", ""]
    if "larch" in out:
        larch = out["larch"]
        lines += ["One Larch session (`larch.Interpreter`), `motif_predict` on Groups of the same kind, the "
                  "models loaded once before the timing:", "",
                  "| Groups | as one list (s) | one command each (s) | ms a command | Groups given `.motif` | "
                  "Larch errors |", "|---|---|---|---|---|---|",
                  f"| {larch['n_groups']} | {larch['list_s']} | {larch['one_by_one_s']} | "
                  f"{1000 * larch['one_by_one_s'] / larch['n_groups']:.0f} | {larch['groups_with_motif']} | "
                  f"{len(larch['larch_errors'])} |", ""]
    emit("\n".join(lines), args.write, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
