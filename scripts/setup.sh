#!/usr/bin/env bash
# Everything the workbook needs on a fresh machine with Python 3.11: a virtual environment (.venv) with the
# pinned requirements, kdviz installed editable, and the Fashion-MNIST data found or fetched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
venv=.venv

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
echo "== installing the pinned requirements (the first time takes a few minutes)"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r requirements.txt
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .

echo "== making Fashion-MNIST available"
if ! "$venv/bin/python" -m kdviz data --no-download 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
      || echo "apt-get could not install dataset-fashion-mnist; trying the download"
  fi
  "$venv/bin/python" -m kdviz data
fi
