"""Prediction speed: preprocessing plus prediction per spectrum in a batch, and the CLI end to end.

Writes N measured-like spectra (bundled Fe site spectra on an extended grid with a sloped
background), predicts them in one call with the default models, times the reading and Larch
normalization of the same files alone (so the page splits the batch into that and the rest:
features, the four models, the checks), and times one ``larch-motif predict FILE`` process
including start-up.

    .venv/bin/python benchmarks/prediction_speed.py --n 1000 [--write docs/validation/prediction_speed.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_measured_like  # noqa: E402
from validation_page import emit, machine, provenance  # noqa: E402

from larch_motif.database import open_database  # noqa: E402
from larch_motif.prediction import predict  # noqa: E402
from larch_motif.spectra import normalize, read_spectrum  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--write", type=Path, default=None, help="also write the validation page there")
    args = parser.parse_args()
    with open_database(None) as db:
        sites = db.site_spectra("Fe")
    predict_one = None
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for k in range(args.n):
            f = Path(tmp) / f"s{k}.dat"
            write_measured_like(f, sites[k % len(sites)], noise=0.002, seed=k)
            files.append(f)
        predict(files[:1], element="Fe")  # trains or loads the cached default models
        t0 = time.perf_counter()
        results = predict(files, element="Fe")
        batch = time.perf_counter() - t0
        t0 = time.perf_counter()
        for f in files:
            grp = read_spectrum(f)
            grp.motif_warnings = []
            normalize(grp)
        read_normalize = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "larch_motif.cli", "predict", str(files[0]), "--element", "Fe"],
                       check=True, capture_output=True)
        predict_one = time.perf_counter() - t0
    out = {"n_spectra": len(results), "batch_s": round(batch, 2),
           "ms_per_spectrum": round(1000 * batch / len(results), 2),
           "read_normalize_ms_per_spectrum": round(1000 * read_normalize / len(results), 2),
           "rest_ms_per_spectrum": round(1000 * (batch - read_normalize) / len(results), 2),
           "cli_predict_one_s": round(predict_one, 2)}
    if args.write is None:
        print(json.dumps(out, indent=1))
        return
    emit("\n".join([
        "# Prediction speed", "",
        provenance() + f"; {machine()} at the end. Measured-like spectra (bundled Fe site spectra, "
        "broadened, on an extended grid with a sloped pre-edge, edge step 1.7, noise 0.002) predicted in "
        "one `larch_motif.predict` call with the default models (CN, motif, site-averaged CN, metallic "
        "detector): reading, Larch normalization and the predictions. Then one `larch-motif predict "
        "FILE --element Fe` process end to end, start-up included, models already cached.", "",
        "| spectra in one call | seconds | ms per spectrum | of which reading and Larch's pre_edge (ms) "
        "| the rest: features, four models, checks (ms) | one CLI process (s) |", "|---|---|---|---|---|---|",
        f"| {out['n_spectra']} | {out['batch_s']} | {out['ms_per_spectrum']} | "
        f"{out['read_normalize_ms_per_spectrum']} | {out['rest_ms_per_spectrum']} | {out['cli_predict_one_s']} |", ""]),
        args.write, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
