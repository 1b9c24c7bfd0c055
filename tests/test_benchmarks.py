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


def test_layout_and_threads_smoke_run():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "layout_and_threads.py"), "--models",
                             "student_cnn", "--steps", "1", "--repeats", "1"], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "CL / NCHW (1t)" in result.stdout and "student_cnn" in result.stdout


def test_measurement_cost_smoke_run():
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "measurement_cost.py"), "--models", "mlp",
                             "--min-run-time", "0.01", "--repeats", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch / kdviz" in result.stdout and "default / CL" in result.stdout


def test_teacher_width_smoke_run(real_fashion_mnist):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "teacher_width.py"), "--widths", "8", "4",
                             "--epochs", "1", "--images", "500"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "width 8:" in result.stdout and "width 4:" in result.stdout and "the first width's time" in result.stdout
