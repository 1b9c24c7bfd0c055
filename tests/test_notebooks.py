"""Every notebook follows the workbook's conventions (nbval re-executes them; this checks their shape)."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request):
    return nbformat.read(request.param, as_version=4)


def test_there_are_notebooks_named_in_order():
    assert NOTEBOOKS, "no notebooks found"
    assert all(re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", p.name) for p in NOTEBOOKS)


def test_opens_with_objectives_prerequisites_and_time(notebook):
    first = notebook.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    for word in ("Objectives", "Prerequisites", "Time"):
        assert f"**{word}" in first.source, f"the first cell should state the {word.lower()}"


def test_first_code_cell_sets_profile_seed_and_device(notebook):
    code = next(c for c in notebook.cells if c.cell_type == "code")
    assert "kdviz.setup(" in code.source


def test_ends_with_summary_exercises_and_further_reading_each_a_cell(notebook):
    headings = [c.source.splitlines()[0] for c in notebook.cells if c.cell_type == "markdown" and c.source]
    assert "## Summary" in headings and "## Exercises" in headings
    assert headings[-1] == "## Further reading", "the last cell should be the further reading"
    assert headings.index("## Summary") < headings.index("## Exercises")
    assert any("checks.check_" in c.source for c in notebook.cells), "exercises should be checked with kdviz.checks"


def test_states_at_least_three_checked_claims(notebook):
    claims = [c for c in notebook.cells if c.cell_type == "code" and "checks.claim(" in c.source]
    assert claims, "state the notebook's lessons as checks.claim over what it measured"
    assert all(c.source.startswith("# NBVAL_CHECK_OUTPUT") for c in claims), \
        "a claim's verdict must be compared between the committed run and CI's"
    assert not any("checks.full_profile_claim(" in c.source for c in claims), \
        "full-profile claims print differently in the quick profile: keep them out of checked cells"
    calls = sum(c.source.count("checks.claim(") + c.source.count("checks.full_profile_claim(")
                for c in notebook.cells if c.cell_type == "code")
    assert calls >= 3


def test_no_device_hard_coding_or_path_hacks(notebook):
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert ".cuda()" not in cell.source
            assert not re.search(r"%run |sys\.path\.(insert|append)", cell.source)


def test_committed_executed_without_errors(notebook):
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "commit the notebook executed (full profile)"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    banner = "".join(o.get("text", "") for o in code[0].outputs)
    assert "profile: full" in banner, "commit the notebook executed in the full profile"


def test_full_profile_claims_hold_in_the_committed_run():
    """Claims only the full profile can make, read from the committed notebooks: every claim holds, and every
    full-profile claim was judged there."""
    outputs = _stream_outputs(NOTEBOOKS[0])
    accuracy = float(re.search(r"teacher: ([\d.]+) % test accuracy on 10,000 test images \(full profile", outputs)[1])
    assert accuracy > 93  # notebook 00's "the teacher passes 93 %"
    for path in NOTEBOOKS:
        outputs = _stream_outputs(path)
        assert "DOES NOT HOLD" not in outputs, path.name
        assert "not claimed in the" not in outputs, path.name
        source = "".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert outputs.count("(full profile)") >= source.count("checks.full_profile_claim("), path.name


def _stream_outputs(path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return "".join(output.get("text", "") for cell in cells if cell.cell_type == "code" for output in cell.outputs)


def test_no_prose_cell_is_over_about_250_words(notebook):
    long = [len(c.source.split()) for c in notebook.cells if c.cell_type == "markdown" and len(c.source.split()) > 260]
    assert not long, f"prose cells of {long} words: split them where the thought turns"


def test_the_learner_copies_are_the_notebooks_without_outputs():
    import subprocess
    import sys
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "scripts" / "learner_copies.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for path in sorted((root / "clean").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        assert all(not c.outputs and c.execution_count is None for c in notebook.cells if c.cell_type == "code")
        assert any("raise NotImplementedError" in c.source for c in notebook.cells), f"{path.name} lost its exercises"
