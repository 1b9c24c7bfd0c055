#!/usr/bin/env bash
# Set up (scripts/setup.sh), then open the workbook in JupyterLab. KDVIZ_PROFILE=quick for a fast pass.
set -euo pipefail
# kernels run in notebooks/: a relative KDVIZ_HOME or KDVIZ_DATA means the folder this was started from
for name in KDVIZ_HOME KDVIZ_DATA; do
  value="${!name:-}"
  if [ -n "$value" ] && [ "${value#/}" = "$value" ] && [ "${value#\~}" = "$value" ]; then
    export "$name=$PWD/$value"
  fi
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
extra=()
[ "$(id -u)" = 0 ] && extra+=(--allow-root)
exec .venv/bin/jupyter lab --notebook-dir=notebooks "${extra[@]}" "$@"
