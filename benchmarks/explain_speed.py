"""Explanation speed: local TreeSHAP per spectrum and global over 1,000 spectra.

    .venv/bin/python benchmarks/explain_speed.py
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_measured_like  # noqa: E402

from larch_motif.database import open_database  # noqa: E402
from larch_motif.explain import explain_model, explain_spectrum  # noqa: E402
from larch_motif.training import default_model, site_features  # noqa: E402


def main() -> None:
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
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
