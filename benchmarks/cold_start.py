"""First answer on a fresh install: a CLI prediction with an empty model cache, per element.

For every bundled element, a theory spectrum of the bundled database (written as a raw
two-column file, as in the tests) is predicted by ``larch-motif predict FILE --element X`` in a
new process with ``LARCH_MOTIF_CACHE`` an empty folder: the time a user waits for the first
answer, with the default models shipped in the package (or trained, where they are not). Then
the same command warm (models cached) against ``python -c "import larch, larch.xafs"``, the
floor any Larch-based command pays, run alternately with it. Each time is the shortest of
``--repeats`` runs: other work on the machine only adds time.
``--write`` writes a Markdown validation page with the command and the commit.

    .venv/bin/python benchmarks/cold_start.py [--elements Fe Zn] [--repeats 3]
        [--write docs/validation/cold_start.md] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import write_measured_like  # noqa: E402
from validation_page import emit, provenance  # noqa: E402

from larch_motif.database import open_database  # noqa: E402
from larch_motif.defaults import DEFAULT_BACKEND, bundled_model_folder, default_model_name  # noqa: E402

BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict) -> float:
    """Wall time (s) of one command; it must succeed."""
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", nargs="*", default=None, help="default: all bundled")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with open_database(None) as store:
        elements = args.elements or [el for el, edge in store.elements() if edge == "K"]
        site = {el: next(s for s in store.site_spectra(el) if s["ligands"] == "O") for el in elements}
    rows: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for el in elements:
            spectrum = tmp / f"{el}.dat"
            write_measured_like(spectrum, site[el])
            cmd = [str(BIN / "larch-motif"), "predict", str(spectrum), "--element", el]
            cold = []
            for k in range(args.repeats):
                env = {**os.environ, "LARCH_MOTIF_CACHE": str(tmp / f"cold_{el}_{k}")}
                cold.append(timed(cmd, env))
            warm_env = {**os.environ, "LARCH_MOTIF_CACHE": str(tmp / f"cold_{el}_0")}
            warm, floor = [], []
            for _ in range(args.repeats):
                warm.append(timed(cmd, warm_env))
                floor.append(timed([sys.executable, "-c", "import larch, larch.xafs"], dict(os.environ)))
            shipped = all((bundled_model_folder() / default_model_name(el, t, "K", DEFAULT_BACKEND)).is_file()
                          for t in ("cn", "motif", "cn_mean", "metallic"))
            rows[el] = {"cold_s": round(min(cold), 2), "warm_s": round(min(warm), 2),
                        "import_larch_s": round(min(floor), 2), "shipped_models": shipped}
            print(f"cold_start.py: {el}: cold {rows[el]['cold_s']} s, warm {rows[el]['warm_s']} s", file=sys.stderr)
    size_MB = sum(p.stat().st_size for p in bundled_model_folder().glob("*.lmm")) / 1e6
    result = {"elements": rows, "bundled_models_MB": round(size_MB, 1),
              "load_average": os.getloadavg()[0]}
    emit(render(result, args), args.write, json.dumps(result, indent=1) if args.json else None)
    return 0


def render(result: dict, args: argparse.Namespace) -> str:
    lines = ["# First answer: cold and warm CLI predictions", "",
             provenance() + f": `larch-motif predict FILE --element X` in a new process, the shortest of "
             f"{args.repeats} runs; cold: an empty `LARCH_MOTIF_CACHE`; warm: the same cache again, "
             "each run followed by one of `python -c \"import larch, larch.xafs\"` (import larch). "
             f"Bundled default models: {result['bundled_models_MB']} MB. Load average at the end: "
             f"{result['load_average']:.1f} (2 cores).", "",
             "| element | shipped models | cold (s) | warm (s) | import larch (s) | warm / import larch |",
             "|---|---|---|---|---|---|"]
    for el, r in result["elements"].items():
        lines.append(f"| {el} | {'yes' if r['shipped_models'] else 'no: trained on first use'} | "
                     f"{r['cold_s']:.2f} | {r['warm_s']:.2f} | {r['import_larch_s']:.2f} | "
                     f"{r['warm_s'] / r['import_larch_s']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
