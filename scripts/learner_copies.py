"""Write the learner copies: each notebook of notebooks/ with its outputs cleared, into clean/. The exercise cells
are the committed ones (a stub that raises NotImplementedError, then the check); the answers stay in solutions/.
A test keeps clean/ in step with notebooks/. Usage:

    .venv/bin/python scripts/learner_copies.py          # (re)write clean/
    .venv/bin/python scripts/learner_copies.py --check  # exit 1, naming them, if any copy is out of date
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS, CLEAN = ROOT / "notebooks", ROOT / "clean"


def learner_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook as a learner starts it: no outputs, no execution counts, no run timestamps."""
    clean = copy.deepcopy(notebook)
    for cell in clean.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    clean.metadata.pop("widgets", None)  # the saved widget state of the executed run
    return clean


def expected_copies() -> dict[Path, str]:
    """Each learner copy's path and text, from the committed notebooks."""
    return {CLEAN / path.name: nbformat.writes(learner_copy(nbformat.read(path, as_version=4))) + "\n"
            for path in sorted(NOTEBOOKS.glob("*.ipynb"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say which copies are out of date")
    arguments = parser.parse_args(argv)
    expected = expected_copies()
    stale = sorted(path.name for path, text in expected.items()
                   if not path.exists() or path.read_text(encoding="utf-8") != text)
    extra = sorted(p.name for p in CLEAN.glob("*.ipynb") if p not in expected) if CLEAN.exists() else []
    if arguments.check:
        if stale or extra:
            print(f"out of date in clean/: {stale + extra}; run scripts/learner_copies.py", file=sys.stderr)
            return 1
        return 0
    CLEAN.mkdir(exist_ok=True)
    for path, text in expected.items():
        path.write_text(text, encoding="utf-8")
    for name in extra:
        (CLEAN / name).unlink()
    print(f"wrote {len(expected)} learner copies into {CLEAN.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
