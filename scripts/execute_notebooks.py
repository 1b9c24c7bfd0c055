"""Re-execute the workbook's notebooks in place (default: the full profile), the way they are committed.

Prints each notebook's wall time and its kernel's peak resident memory. Usage:

    .venv/bin/python scripts/execute_notebooks.py                 # every notebook, full profile
    .venv/bin/python scripts/execute_notebooks.py --profile quick notebooks/00_why_compress.ipynb --no-write
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kdviz import config, runner


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/*.ipynb")
    parser.add_argument("--profile", default="full", choices=sorted(config.PROFILES))
    parser.add_argument("--no-write", action="store_true", help="execute only; leave the files unchanged")
    parser.add_argument("--timeout", type=int, default=7200, help="seconds allowed per cell")
    arguments = parser.parse_args()
    for path in arguments.notebooks or runner.notebooks():
        seconds, peak = runner.execute(path.resolve(), arguments.profile, write=not arguments.no_write,
                                       timeout=arguments.timeout)
        memory = f"{peak:,.0f} MB" if peak is not None else "unknown"
        print(f"{path.name}: {arguments.profile} profile, {seconds:.1f} s, kernel peak memory {memory}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
