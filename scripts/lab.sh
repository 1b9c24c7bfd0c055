#!/usr/bin/env bash
# Set up (scripts/setup.sh), then open the workbook in JupyterLab. KDVIZ_PROFILE=quick for a fast pass.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/absolute_folders.sh"  # before cd
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec .venv/bin/jupyter lab --notebook-dir=notebooks "${extra[@]}" "$@"
