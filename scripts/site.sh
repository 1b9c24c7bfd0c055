#!/usr/bin/env bash
# Build the workbook as a static website (Jupyter Book 2) from the committed notebooks, none re-executed:
# the HTML lands in _build/site/. Needs .venv (scripts/setup.sh) and Node.js 20 or newer with npm; the site
# template's npm packages are installed with `npm ci` from site/theme/package-lock.json. Nothing else is downloaded.
# BASE_URL=/name serves the site under a sub-path (as GitHub Pages does for a project). Extra arguments go to
# scripts/build_site.py (--rebuild-theme).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=.venv/bin/python
[ -x "$py" ] || py=${PYTHON:-python3}
exec "$py" scripts/build_site.py "$@"
