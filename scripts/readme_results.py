"""Measure every model of the workbook from the cache and write the README's results: docs/results.json, the
Pareto chart docs/pareto.png, and the table between the README's results markers.

    .venv/bin/python scripts/readme_results.py [--profile full]
    .venv/bin/python scripts/readme_results.py --render-only   # README.md again from docs/results.json

Every model must already be cached (run the notebooks or `python -m kdviz prepare` first): nothing is trained.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from kdviz import config, pareto_runs, plots

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    """The CPU model and core count, as a reader can compare with their own."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {config.available_cores()} cores"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="full", choices=sorted(config.PROFILES))
    parser.add_argument("--render-only", action="store_true",
                        help="measure nothing: rewrite README.md's results from docs/results.json")
    arguments = parser.parse_args(argv)
    readme, saved = ROOT / "README.md", ROOT / "docs" / "results.json"
    if arguments.render_only:
        results = json.loads(saved.read_text())
        readme.write_text(pareto_runs.replace_readme_section(readme.read_text(), pareto_runs.readme_section(results)))
        print(f"rewrote README.md's results from {saved.relative_to(ROOT)} ({results['machine']})")
        return 0
    plots.use_style()
    rows, missing = pareto_runs.collect(arguments.profile)
    if missing:
        print("not cached yet: " + ", ".join(missing) + "\nrun the notebooks (or python -m kdviz prepare) first",
              file=sys.stderr)
        return 1
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    plots.plot_pareto(rows, "bytes").savefig(docs / "pareto.png", dpi=100)
    results = {"profile": arguments.profile, "machine": machine(), "torch": torch.__version__,
               "chart": "docs/pareto.png", "rows": rows}
    saved.write_text(json.dumps(results, indent=1) + "\n")
    readme.write_text(pareto_runs.replace_readme_section(readme.read_text(), pareto_runs.readme_section(results)))
    print(pareto_runs.markdown(rows))
    print(f"wrote docs/results.json, docs/pareto.png and README.md's results ({results['machine']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
