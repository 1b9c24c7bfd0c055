#!/usr/bin/env bash
# Everything the workbook needs on a fresh machine with Python 3.11: a virtual environment (.venv) with the
# pinned requirements, kdviz installed editable, and the Fashion-MNIST data found or fetched. Safe to run again.
#
# PyTorch: KDVIZ_TORCH=auto (default), cpu or cuda; scripts/torch_source.sh says what each picks. On Linux
# without an NVIDIA GPU, auto installs PyTorch's CPU-only wheels (no CUDA libraries: about 4.5 GB less), and
# falls back to PyPI's wheels, with a message, when their index cannot be reached.
# Installer: uv (pinned below, installed into .venv) where it can be had, else pip; a failed uv step is retried
# with pip. pip alone: KDVIZ_INSTALLER=pip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
venv=.venv
uv_version=0.13.9

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating the virtual environment $venv"
  "$python" -m venv "$venv"
fi
py="$venv/bin/python"
echo "== installing the pinned requirements (the first time takes a few minutes)"
"$py" -m pip install --quiet --upgrade pip

uv=
if [ "${KDVIZ_INSTALLER:-uv}" = pip ]; then
  :
elif [ -n "${PIP_INDEX_URL:-}" ] || grep -q '\.index-url=' <<<"$("$py" -m pip config list 2>/dev/null || true)"; then
  echo "pip is configured with its own package index: installing with pip"
elif [ -x "$venv/bin/uv" ] && [ "$("$venv/bin/uv" --version 2>/dev/null | cut -d' ' -f2)" = "$uv_version" ]; then
  uv="$venv/bin/uv"
elif "$py" -m pip install --quiet "uv==$uv_version"; then
  uv="$venv/bin/uv"
else
  echo "uv $uv_version could not be installed: installing with pip"
fi
install() {
  if [ -n "$uv" ]; then
    # Python compiles each module on its first import, except under PYTHONDONTWRITEBYTECODE: then uv compiles
    # everything now (as pip always does), or every import of torch would take seconds longer each time
    "$uv" pip install --quiet ${PYTHONDONTWRITEBYTECODE:+--compile-bytecode} --python "$py" "$@" && return 0
    echo "uv failed (see above): trying again with pip"
  fi
  "$py" -m pip install --quiet "$@"
}

torch_choice=$(bash scripts/torch_source.sh "$py")
read -r torch_source torch_index <<<"$torch_choice"
torch_pin=$(sed -n 's/^torch==\([^[:space:]#]*\).*/\1/p' requirements.txt)
vision_pin=$(sed -n 's/^torchvision==\([^[:space:]#]*\).*/\1/p' requirements.txt)
version_of() { "$py" -c "import importlib.metadata as m; print(m.version('$1'))" 2>/dev/null || true; }
if [ "$torch_source" = cpu ]; then
  # torch and torchvision alone, without dependencies, from the CPU-only index; then requirements.txt keeps them
  # (torch==X is met by X+cpu) and brings their dependencies from the usual index, without the CUDA libraries.
  if [ "$(version_of torch)" != "$torch_pin+cpu" ] || [ "$(version_of torchvision)" != "$vision_pin+cpu" ]; then
    install --no-deps --index-url "$torch_index" "torch==$torch_pin+cpu" "torchvision==$vision_pin+cpu" \
      || echo "== PyTorch: the CPU-only wheels could not be installed from $torch_index: PyPI's wheels instead"
  fi
  if compgen -G "$venv/lib/python3*/site-packages/nvidia" >/dev/null; then
    echo "note: $venv still holds the CUDA libraries of an earlier install ($(du -sh "$venv" | cut -f1) in all);" \
      "for a CPU-only environment: rm -rf $venv, then run this again"
  fi
elif [[ "$(version_of torch)" == *+cpu ]]; then
  echo "== PyTorch: replacing the CPU-only build with PyPI's"
  "$py" -m pip uninstall --quiet --yes torch torchvision
fi
install -r requirements.txt
"$py" -m pip install --quiet --no-deps --no-build-isolation -e .

echo "== making Fashion-MNIST available"
if ! "$py" -m kdviz data --no-download 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q dataset-fashion-mnist >/dev/null; } \
      || echo "apt-get could not install dataset-fashion-mnist; trying the download"
  fi
  "$py" -m kdviz data
fi
