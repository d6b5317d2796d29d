#!/usr/bin/env bash
# The main job on the bundled default database: grouped CV of rf, xgboost and lightgbm for CN
# and motif, the default models, and a report with plots in larch_motif_output/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-venv.sh
exec .venv/bin/larch-motif demo --out "${1:-larch_motif_output}"
