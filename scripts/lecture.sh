#!/usr/bin/env bash
# Set up (scripts/setup.sh), then serve the lecture dashboard (scripts/lecture_dashboard.ipynb) with Voila and open
# it in the browser: the explorers on tabs, large fonts, read from the prepared cache of KDVIZ_PROFILE (default
# full; KDVIZ_PROFILE=quick for the quick one). Extra arguments go to Voila (--port 8867, --no-browser).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/absolute_folders.sh"  # before cd
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec .venv/bin/voila scripts/lecture_dashboard.ipynb --Voila.ip=127.0.0.1 "$@"
