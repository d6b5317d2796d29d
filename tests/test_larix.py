"""The Larix Motif menu, for real: a Larix window under a virtual screen (Xvfb).

PyPI's wxPython builds only from source, so the GUI runs in .venv-gui: Debian's /usr/bin/python3
with its wxPython (python3-wxgtk4.0) and larch_motif installed as in .venv (made by
scripts/setup-gui-venv.sh). This test starts Xvfb and runs tests/larix_gui_checks.py there with
pytest; it is skipped, with the reason, where Debian's wxPython or Xvfb is not installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui

ROOT = Path(__file__).resolve().parents[1]
GUI_PYTHON = os.environ.get("GUI_PYTHON", "/usr/bin/python3")


def missing_gui() -> str | None:
    """Why the GUI cannot run here, or None."""
    if not Path(GUI_PYTHON).is_file():
        return f"no {GUI_PYTHON}"
    if subprocess.run([GUI_PYTHON, "-c", "import wx"], capture_output=True).returncode != 0:
        return f"{GUI_PYTHON} cannot import wx"
    if shutil.which("Xvfb") is None and not os.environ.get("DISPLAY"):
        return "no Xvfb and no DISPLAY"
    return None


@contextmanager
def virtual_screen():
    """The DISPLAY of an Xvfb screen of our own (the DISPLAY given where there is no Xvfb)."""
    if shutil.which("Xvfb") is None:
        yield os.environ["DISPLAY"]
        return
    read_end, write_end = os.pipe()
    # -noreset: an X server resets when its last client leaves, and refuses connections meanwhile
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1600x1000x24",
                             "-nolisten", "tcp", "-noreset"], pass_fds=(write_end,), stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


def test_motif_menu_in_a_real_larix_window(tmp_path):
    reason = missing_gui()
    if reason:
        pytest.skip(f"Debian python3-wxgtk4.0/xvfb not installable here: {reason} "
                    "(.ci/run installs them with apt-get where it can)")
    subprocess.run(["bash", "scripts/setup-gui-venv.sh"], cwd=ROOT, check=True)
    figures = tmp_path / "figures.json"
    with virtual_screen() as screen:
        env = dict(os.environ, DISPLAY=screen, LARCHDIR=str(tmp_path / "larchdir"),
                   LARCH_MOTIF_GUI_REPORT=str(figures), NO_AT_BRIDGE="1")
        result = subprocess.run([str(ROOT / ".venv-gui" / "bin" / "python"), "-m", "pytest",
                                 "tests/larix_gui_checks.py", "-x", "-q", "-p", "no:cacheprovider",
                                 f"--basetemp={tmp_path / 'gui'}"],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    print(result.stdout[-4000:])
    assert result.returncode == 0, f"{result.stdout[-8000:]}\n{result.stderr[-3000:]}"
    print("figures:", json.loads(figures.read_text()))

