"""Explanation speed: local TreeSHAP per spectrum and global over 1,000 spectra.

    .venv/bin/python benchmarks/explain_speed.py [--write docs/validation/explain_speed.md]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_measured_like  # noqa: E402
from validation_page import emit, machine, provenance  # noqa: E402

from larch_motif.database import open_database  # noqa: E402
from larch_motif.defaults import default_model  # noqa: E402
from larch_motif.explain import explain_model, explain_spectrum  # noqa: E402
from larch_motif.training import site_features  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    out = {}
    with open_database(None) as db:
        sites = db.site_spectra("Fe")
    for backend in ("rf", "xgboost", "lightgbm"):
        model = default_model("Fe", "cn", backend=backend)
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for k in range(20):
                f = Path(tmp) / f"s{k}.dat"
                write_measured_like(f, sites[k], noise=0.002, seed=k)
                files.append(f)
            explain_spectrum(files[0], model)
            t0 = time.perf_counter()
            for f in files:
                explain_spectrum(f, model)
            local = (time.perf_counter() - t0) / len(files)
        X = site_features(sites, model.preprocessing).X
        X = np.vstack([X, X, X])[:1000]
        t0 = time.perf_counter()
        explain_model(model, X=X, max_samples=1000)
        out[backend] = {"local_s_per_spectrum": round(local, 3), "global_s_1000_spectra": round(time.perf_counter() - t0, 2)}
    if args.write is None:
        print(json.dumps(out, indent=1))
        return
    lines = ["# Explanation speed", "",
             provenance() + f"; {machine()} at the end. The default Fe CN model of each backend; local: "
             "TreeSHAP of one measured-like spectrum (`explain_spectrum`, reading and normalization "
             "included), the mean over 20; global: `explain_model` over 1,000 spectra (the Fe site "
             "spectra, repeated).", "",
             "| backend | local, s per spectrum | global, s for 1,000 spectra |", "|---|---|---|"]
    lines += [f"| {b} | {r['local_s_per_spectrum']} | {r['global_s_1000_spectra']} |" for b, r in out.items()]
    emit("\n".join(lines) + "\n", args.write, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
