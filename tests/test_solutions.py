"""Every reference answer in solutions/ passes the check its notebook runs, and every checked exercise has one."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solutions import exercises  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("check", list(exercises.SOLUTIONS), ids=lambda check: check.__name__)
def test_the_reference_answer_passes_its_check(check):
    answer = exercises.SOLUTIONS[check]
    result = check(answer)
    assert result.passed, result.message


def test_every_checked_exercise_has_a_reference_answer_of_the_notebooks_name():
    asked = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            match = re.search(r"checks\.(check_\w+)\((\w+)\)", cell.source)
            if cell.cell_type == "code" and "raise NotImplementedError" in cell.source and match:
                asked[match[1]] = match[2]
    assert asked, "no checked exercise found in the notebooks"
    answered = {check.__name__: answer.__name__ for check, answer in exercises.SOLUTIONS.items()}
    assert answered == asked


def test_a_wrong_answer_fails_its_check():
    """The checks can fail: an answer off by one is told so, with a hint."""
    result = exercises.checks.check_conv2d_macs(lambda m, n, k, size: exercises.conv2d_macs(m, n, k, size) + 1)
    assert not result.passed and result.message
