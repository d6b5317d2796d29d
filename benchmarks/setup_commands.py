"""The README's two set-up commands from a fresh clone: what a new user (and CI) runs first.

Clones the repository's committed ``HEAD`` (or ``--ref``) into a temporary folder, reads the
README's first code block (the two commands: the main job on the bundled default and the
test suite), and runs each there in a new shell with an empty model cache
(``LARCH_MOTIF_CACHE``), as a fresh machine would: each creates its virtual environment and
whatever else it needs. Records the wall time and exit status of each, the test suite's
pytest summary (passed, skipped, failed; pytest's exit code 5, no test collected, counts as a
failure) and its skip reasons, and the first lines of the demo's report. ``--write`` writes a
Markdown validation page with the command and the commit.

The Larix GUI test needs Debian's wxPython and Xvfb; ``.ci/run`` installs them with apt-get
before the test command. The page says whether they were installed when it ran, since the
GUI test skips (and says why) without them.

    .venv/bin/python benchmarks/setup_commands.py [--ref main] [--write docs/validation/setup_commands.md]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from validation_page import emit, machine, provenance

ROOT = Path(__file__).resolve().parents[1]


def readme_commands(readme: Path) -> list[str]:
    """The commands of the README's first fenced code block, comments stripped."""
    text = readme.read_text()
    block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    if block is None:
        raise SystemExit(f"{readme}: no code block")
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [c for c in commands if c]


def gui_parts_installed() -> bool:
    """Debian's wxPython and Xvfb, which the Larix GUI test needs, are on this machine."""
    has_wx = subprocess.run(["/usr/bin/python3", "-c", "import wx"], capture_output=True).returncode == 0
    return has_wx and shutil.which("Xvfb") is not None


def pytest_summary(output: str) -> str:
    """pytest's last summary line ('N passed, M skipped ... in T s'), or '' where none."""
    lines = [ln.strip("= ") for ln in output.splitlines() if re.match(r"^=+ .*\bin [0-9.]+s", ln)]
    return lines[-1] if lines else ""


def failures(output: str) -> list[str]:
    """The FAILED and ERROR lines of pytest's short summary (``-ra``): which tests failed."""
    return [ln.strip() for ln in output.splitlines() if ln.startswith(("FAILED ", "ERROR tests/"))]


def failure_lines(output: str, limit: int = 30) -> list[str]:
    """pytest's ``E`` lines (the assertion and its message) and any line naming a random seed,
    so that a failure the page records can be read and, for a seeded test, rerun."""
    keep = [ln.rstrip() for ln in output.splitlines()
            if ln.startswith("E ") or re.search(r"\bseed \d+", ln)]
    return keep[:limit]


def skip_reasons(output: str) -> list[str]:
    """The SKIPPED lines of pytest's short summary (``-rs``)."""
    return [ln.strip() for ln in output.splitlines() if ln.startswith("SKIPPED")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to clone (default: HEAD)")
    parser.add_argument("--keep", type=Path, default=None, help="clone into this folder and keep it")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", args.ref], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    gui = gui_parts_installed()
    with tempfile.TemporaryDirectory() as tmp:
        clone = args.keep or Path(tmp) / "clone"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "checkout", "--quiet", commit], cwd=clone, check=True)
        commands = readme_commands(clone / "README.md")
        # a fresh machine has none of these: a PYTHONPATH left from running this script in a scratch
        # worktree would make the clone's tests and its console scripts import two copies of the package
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VIRTUAL_ENV", "LARCH_MOTIF", "PYTHONPATH"))}
        env["LARCH_MOTIF_CACHE"] = str(Path(tmp) / "empty_model_cache")
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p)
        runs = []
        for command in commands:
            print(f"setup_commands.py: {command} ...", file=sys.stderr)
            t0 = time.perf_counter()
            r = subprocess.run(["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True)
            seconds = time.perf_counter() - t0
            output = r.stdout + r.stderr
            runs.append({"command": command, "seconds": round(seconds, 1), "status": r.returncode,
                         "pytest": pytest_summary(output), "skipped": skip_reasons(output),
                         "failed": failures(output),
                         "failure_lines": failure_lines(output) if r.returncode else [],
                         "tail": output.strip().splitlines()[-5:]})
            print(f"setup_commands.py: exit {r.returncode} in {seconds:.0f} s", file=sys.stderr)
        report = clone / "larch_motif_output" / "report.md"
        report_head = report.read_text().splitlines()[:40] if report.is_file() else []
    emit(render(commit, gui, runs, report_head), args.write)
    return 0 if all(r["status"] == 0 for r in runs) else 1


def render(commit: str, gui: bool, runs: list[dict], report_head: list[str]) -> str:
    lines = ["# The README's set-up commands from a fresh clone", "",
             provenance() + f": a fresh `git clone` of commit {commit}, the README's first code block run "
             "there command by command in a new shell, with an empty model cache and no virtual environment "
             f"made before; {machine()} at the end. Debian's wxPython and Xvfb (the Larix GUI test's, "
             f"installed by `.ci/run` with apt-get): {'installed' if gui else 'not installed, so the GUI test skips'}.",
             "", "| command | exit status | wall time (s) | pytest |", "|---|---|---|---|"]
    for r in runs:
        lines.append(f"| `{r['command']}` | {r['status']} | {r['seconds']:.0f} | {r['pytest'] or '-'} |")
    for r in runs:
        if r["skipped"]:
            lines += ["", f"Skipped by `{r['command']}`:", ""] + [f"- {s}" for s in r["skipped"]]
        if r.get("failed"):
            lines += ["", f"Failed in `{r['command']}`:", ""] + [f"- {s}" for s in r["failed"]]
        if r.get("failure_lines"):
            lines += ["", "pytest's assertion lines (`E`) and seeds:", "", "```"] + r["failure_lines"] + ["```"]
        if r["status"] != 0:
            lines += ["", f"Last lines of `{r['command']}`:", "", "```"] + r["tail"] + ["```"]
    if report_head:
        lines += ["", "The start of the demo's `larch_motif_output/report.md`:", "", "```"] + report_head + ["```"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
