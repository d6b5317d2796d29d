#!/usr/bin/env bash
# The test suite (real FEFF10, real Larch). pytest's exit code 5 (no tests ran) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
bash scripts/setup-gui-venv.sh   # the Larix GUI test's Python, where Debian's wxPython is installed
export LARCH_MOTIF_CACHE="${LARCH_MOTIF_CACHE:-$(mktemp -d)}"
.venv/bin/ruff check larch_motif tests benchmarks docs
set +e
.venv/bin/python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "run-tests: pytest collected no tests: failing" >&2
  exit 1
fi
exit "$rc"
