#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run every test: ruff (lint and import order) and lint-imports (kdviz's layers),
# unit tests, every notebook re-executed by nbval in the quick profile, and the browser tests of the widgets in
# headless Chromium. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing Debian's chromium for the browser test"
    apt-get install -y -q chromium >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
  else
    echo "chromium is not installed: the browser test will be skipped (install Debian's chromium to run it)"
  fi
fi
command -v chromium >/dev/null 2>&1 && export KDVIZ_REQUIRE_BROWSER=1

echo "== ruff: lint and import order"
.venv/bin/ruff check kdviz tests scripts benchmarks notebooks solutions
echo "== lint-imports: kdviz's layers (pyproject.toml)"
.venv/bin/lint-imports --no-cache

# a fresh cache, so the notebooks train their quick models from scratch, as on a new machine
export KDVIZ_HOME="$PWD/.kdviz-test-home"
rm -rf "$KDVIZ_HOME"
export KDVIZ_PROFILE=quick
echo "== pytest: unit tests, notebooks (nbval, quick profile), browser"
exec .venv/bin/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
  --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider "$@"
