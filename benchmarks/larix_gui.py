"""The real Larix window with the Motif menu, timed: what ``tests/test_larix.py`` checks, with its figures.

Runs ``tests/larix_gui_checks.py`` (Larix's own column-file reader, training, prediction and
explanation through menu events, the results and plot windows, the bad inputs, and 500
groups predicted at once while a 10 ms wx timer runs) in ``.venv-gui`` (Debian's wxPython)
under an Xvfb screen of its own, as the test does. Records the one-time cost of
``scripts/setup-gui-venv.sh`` (or that it was reused), the checks passed and their wall time,
the time Xvfb and the process start add, and the figures the checks report: the training
from the menu, the 500-group prediction from the menu event to the last row of the results
window, and the longest stall of the event loop meanwhile (the window must stay responsive).
``--write`` writes a Markdown validation page with the command and the commit.

    .venv/bin/python benchmarks/larix_gui.py [--write docs/validation/larix_gui.md]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from test_larix import missing_gui, virtual_screen  # noqa: E402
from validation_page import emit, machine, provenance  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    reason = missing_gui()
    if reason:
        raise SystemExit(f"larix_gui.py: the GUI cannot run here: {reason} "
                         "(apt-get install python3-wxgtk4.0 xvfb, as .ci/run does)")
    made = not (ROOT / ".venv-gui" / "bin" / "python").is_file()
    t0 = time.perf_counter()
    subprocess.run(["bash", "scripts/setup-gui-venv.sh"], cwd=ROOT, check=True)
    setup_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        figures = tmp / "figures.json"
        t0 = time.perf_counter()
        with virtual_screen() as screen:
            env = dict(os.environ, DISPLAY=screen, LARCHDIR=str(tmp / "larchdir"),
                       LARCH_MOTIF_GUI_REPORT=str(figures), NO_AT_BRIDGE="1")
            result = subprocess.run([str(ROOT / ".venv-gui" / "bin" / "python"), "-m", "pytest",
                                     "tests/larix_gui_checks.py", "-q", "-p", "no:cacheprovider",
                                     f"--basetemp={tmp / 'gui'}"],
                                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        total_s = time.perf_counter() - t0
        reported = json.loads(figures.read_text()) if figures.is_file() else {}
    summary = next((ln.strip("= ") for ln in reversed(result.stdout.splitlines())
                    if re.match(r"^=*\s*\d+ (passed|failed)", ln)), "")
    if result.returncode != 0:
        print(result.stdout[-6000:], result.stderr[-2000:], file=sys.stderr)
    out = {"setup_gui_venv_s": round(setup_s, 1), "gui_venv_made": made, "pytest": summary,
           "status": result.returncode, "with_xvfb_and_start_s": round(total_s, 1),
           **{k: v for k, v in reported.items() if not isinstance(v, str)}}
    emit(render(out), args.write)
    return result.returncode


def render(r: dict) -> str:
    lines = ["# Larix: the Motif menu in a real window", "",
             provenance() + f": `tests/larix_gui_checks.py` in `.venv-gui` under an Xvfb screen of its own "
             f"(as `tests/test_larix.py` runs it); {machine()} at the end.", "",
             "| what | figure |", "|---|---|",
             f"| `scripts/setup-gui-venv.sh` | {r['setup_gui_venv_s']:.1f} s "
             f"({'made .venv-gui' if r['gui_venv_made'] else '.venv-gui reused'}) |",
             f"| GUI checks | {r['pytest'] or '-'} (exit status {r['status']}) |",
             f"| with Xvfb and the process start | {r['with_xvfb_and_start_s']:.1f} s |"]
    if "train_seconds" in r:
        lines.append(f"| CN model trained from the menu | {r['train_seconds']:.2f} s |")
    if "predict_500_seconds" in r:
        lines += [f"| {r['groups']} groups predicted from the menu event (Larch pre_edge, CN model, "
                  f"written into the groups and listed) | {r['predict_500_seconds']:.2f} s |",
                  f"| longest gap between two 10 ms timer events meanwhile | {r['longest_event_loop_stall_s']:.3f} s |"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
