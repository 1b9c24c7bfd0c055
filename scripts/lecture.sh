#!/usr/bin/env bash
# Set up (scripts/setup.sh), then serve the lecture dashboard (scripts/lecture_dashboard.ipynb) with Voila and open
# it in the browser: the explorers on tabs, large fonts, read from the prepared cache of KDVIZ_PROFILE (default
# full; KDVIZ_PROFILE=quick for the quick one). Extra arguments go to Voila (--port 8867, --no-browser).
set -euo pipefail
# the kernel runs in scripts/: a relative KDVIZ_HOME or KDVIZ_DATA means the folder this was started from
for name in KDVIZ_HOME KDVIZ_DATA; do
  value="${!name:-}"
  if [ -n "$value" ] && [ "${value#/}" = "$value" ] && [ "${value#\~}" = "$value" ]; then
    export "$name=$PWD/$value"
  fi
done
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/voila scripts/lecture_dashboard.ipynb --Voila.ip=127.0.0.1 "$@"
