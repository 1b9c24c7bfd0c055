#!/usr/bin/env bash
# Where scripts/setup.sh takes PyTorch from. Prints one line: "cpu URL" (PyTorch's CPU-only wheels from the index
# URL) or "pypi" (PyPI's wheels: on Linux they bring NVIDIA's CUDA libraries, about 4.5 GB more); says why on stderr.
#
#   KDVIZ_TORCH=auto (default)  keep the build already in .venv; in a new .venv on Linux, CPU-only unless an NVIDIA
#                               driver is found (nvidia-smi), else PyPI's
#   KDVIZ_TORCH=cpu             CPU-only: no CUDA libraries
#   KDVIZ_TORCH=cuda            PyPI's wheels, with CUDA
#   KDVIZ_TORCH_INDEX=URL       the CPU-only index (default https://download.pytorch.org/whl/cpu)
#
# When the CPU-only index cannot be reached, it falls back to PyPI's wheels and says so. Usage:
# bash scripts/torch_source.sh [PYTHON] (the environment's python: its torch, if any, and the index check).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${1:-.venv/bin/python}
[ -x "$python" ] || python=${PYTHON:-python3}
want=${KDVIZ_TORCH:-auto}
index=${KDVIZ_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
index=${index%/}
pin=$(sed -n 's/^torch==\([^[:space:]#]*\).*/\1/p' requirements.txt)
say() { echo "== PyTorch: $*" >&2; }

case "$want" in
  auto | cpu | cuda) ;;
  *) echo "KDVIZ_TORCH must be auto, cpu or cuda, not '$want'" >&2; exit 2 ;;
esac
installed=$("$python" -c 'import importlib.metadata as m; print(m.version("torch"))' 2>/dev/null || true)

if [ "$(uname -s)" != Linux ]; then
  say "PyPI's wheels ($(uname -s): they hold no CUDA libraries)"
  echo pypi
  exit 0
fi
if [ "$want" = auto ]; then
  if [ -n "$installed" ]; then
    case "$installed" in *+cpu) want=cpu ;; *) want=cuda ;; esac
    say "keeping the $want build already installed (torch $installed; KDVIZ_TORCH=cpu or cuda changes it)"
  elif command -v nvidia-smi >/dev/null 2>&1; then
    want=cuda
    say "an NVIDIA driver was found (nvidia-smi): PyPI's wheels, with CUDA (KDVIZ_TORCH=cpu for CPU-only)"
  else
    want=cpu
    say "no NVIDIA GPU found (no nvidia-smi): the CPU-only wheels (KDVIZ_TORCH=cuda for CUDA)"
  fi
fi
if [ "$want" = cuda ]; then
  [ "${KDVIZ_TORCH:-auto}" = cuda ] && say "PyPI's wheels, with CUDA (KDVIZ_TORCH=cuda)"
  echo pypi
  exit 0
fi
if [ "$installed" = "$pin+cpu" ]; then
  echo "cpu $index"  # already installed: nothing to download
  exit 0
fi
# One request for the index's page of torch, as pip would ask for it (proxy variables apply), 20 s at most.
if "$python" - "$index/torch/" <<'EOF' 2>/dev/null
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=20) as response:
    sys.exit(0 if response.status == 200 else 1)
EOF
then
  say "the CPU-only wheels of torch $pin from $index"
  echo "cpu $index"
else
  say "cannot reach $index (the CPU-only wheels): falling back to PyPI's wheels, which bring NVIDIA's CUDA" \
    "libraries (about 4.5 GB more on disk; they run on a CPU too). Set KDVIZ_TORCH_INDEX to a mirror of that index," \
    "or KDVIZ_TORCH=cuda to skip this check."
  echo pypi
fi
