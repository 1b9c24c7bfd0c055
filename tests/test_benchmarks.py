"""The benchmark scripts still run (a smoke run; their figures are read by people, not asserted)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_train_throughput_smoke_run(real_fashion_mnist):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_throughput.py"), "--quick",
                             "--model", "mlp", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for line in ("kdviz / hand-written", "kdviz / DataLoader", "peak resident memory"):
        assert line in result.stdout
