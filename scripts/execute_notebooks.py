"""Re-execute the workbook's notebooks in place (default: the full profile), the way they are committed.

Prints each notebook's wall time and its kernel's peak resident memory. Usage:

    .venv/bin/python scripts/execute_notebooks.py                 # every notebook, full profile
    .venv/bin/python scripts/execute_notebooks.py --profile quick notebooks/00_why_compress.ipynb --no-write
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def kernel_peak_rss_mb(client: NotebookClient) -> float | None:
    """Peak resident memory of the kernel process so far (Linux VmHWM; elsewhere the current RSS)."""
    try:
        pid = client.km.provisioner.process.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (AttributeError, OSError, ValueError):
        pass
    try:
        return psutil.Process(client.km.provisioner.process.pid).memory_info().rss / 2**20
    except Exception:
        return None


def execute(path: Path, profile: str, write: bool, timeout: int) -> tuple[float, float | None]:
    notebook = nbformat.read(path, as_version=4)
    os.environ["KDVIZ_PROFILE"] = profile
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    peaks: list[float] = []

    def after_cell(**_) -> None:  # VmHWM only grows, so the last reading is the kernel's peak
        reading = kernel_peak_rss_mb(client)
        if reading is not None:
            peaks.append(reading)

    client.on_cell_executed = after_cell
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
    if write:
        nbformat.write(notebook, path)
    return seconds, max(peaks, default=None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--profile", default="full", choices=["quick", "full"])
    parser.add_argument("--no-write", action="store_true", help="execute only; leave the files unchanged")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed per cell")
    arguments = parser.parse_args()
    paths = arguments.notebooks or sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        seconds, peak = execute(path.resolve(), arguments.profile, not arguments.no_write, arguments.timeout)
        memory = f"{peak:,.0f} MB" if peak is not None else "unknown"
        print(f"{path.name}: {arguments.profile} profile, {seconds:.1f} s, kernel peak memory {memory}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
