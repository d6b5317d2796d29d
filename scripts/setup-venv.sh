#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install larch_motif with its test tools; reuse it when the
# installed requirements still match pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.larch_motif-installed
want=$(sha256sum pyproject.toml tests/plugin_pkg/pyproject.toml | sha256sum | cut -c1-16)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setting up .venv (one time: installs xraylarch, feff10-rs, pymatgen, xgboost, lightgbm, shap, ...)" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip setuptools wheel
.venv/bin/python -m pip install --quiet -e ".[test]"
echo "$want" > "$stamp"
