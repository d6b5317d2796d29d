#!/usr/bin/env bash
# Create .venv-gui, the Python of the Larix GUI test and of larix-motif on Debian: /usr/bin/python3
# with system site packages (Debian's wxPython, python3-wxgtk4.0; PyPI's wxPython only builds
# from source), larch_motif installed in it as in .venv, and Larix's wx libraries. Reuses it when
# pyproject.toml and this script are unchanged. Where that Python cannot import wx, it says so
# and does nothing (exit 0): the GUI test then skips with the reason.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${GUI_PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import wx" 2>/dev/null; then
  echo "setup-gui-venv: $PY cannot import wx (Debian: apt-get install -y python3-wxgtk4.0 xvfb): no .venv-gui" >&2
  exit 0
fi
stamp=.venv-gui/.larch_motif-installed
want=$(sha256sum pyproject.toml scripts/setup-gui-venv.sh | sha256sum | cut -c1-16)
if [ -x .venv-gui/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv-gui (one time: larch_motif and Larix's wx libraries for $PY with Debian's wxPython)" >&2
[ -x .venv-gui/bin/python ] || "$PY" -m venv --system-site-packages .venv-gui
# the same versions as .venv, not Debian's older numpy, scipy, matplotlib or Pillow
.venv-gui/bin/python -m pip install --quiet --ignore-installed -e ".[test]"
# Larix's plotting and widget libraries ask for wxPython>=4.2.3; Debian 12's 4.2.0 runs them
.venv-gui/bin/python -m pip install --quiet --no-deps wxmplot==2026.2.3 wxutils==2026.3.0 \
  sitka_spruce==0.4.1 darkdetect==0.8.0
.venv-gui/bin/python -m pip install --quiet zarr==3.1.6 pytz==2026.6 vispy==0.17.0
echo "$want" > "$stamp"
