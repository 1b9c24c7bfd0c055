"""kdviz.predict: a prediction is committed once, through its widget, and revealed beside the measured answer."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdviz import predict

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb"))
OPTIONS = ["faster", "no measurable difference", "slower"]


def _controls(prediction: predict.Prediction):
    box = prediction.widget()
    choices, row = box.children
    button, status = row.children
    return choices, button, status


def test_the_widget_commits_the_choice_once_and_locks():
    prediction = predict.Prediction("Which is faster?", OPTIONS)
    choices, button, status = _controls(prediction)
    assert button.disabled, "nothing chosen yet: Commit must wait"
    choices.value = "slower"
    assert not button.disabled
    button.click()
    assert prediction.choice == "slower"
    assert choices.disabled and button.disabled
    assert "Committed: slower" in status.value
    choices.value = "faster"  # a locked widget's value cannot reach the prediction
    assert prediction.choice == "slower"


def test_verdict_says_right_or_not_and_when_nothing_was_committed():
    prediction = predict.Prediction("Which is faster?", OPTIONS)
    assert prediction.verdict("faster", "2.00x faster") == (
        "measured answer: faster [measured: 2.00x faster]\nyour prediction: " + predict.NOT_COMMITTED)
    prediction.commit("faster")
    assert prediction.verdict("faster", "2.00x").endswith("your prediction: faster: right")
    assert "not this time" in prediction.verdict("slower", "1.5x slower")


@pytest.mark.parametrize("call, message", [
    (lambda: predict.Prediction("", OPTIONS), "question must be"),
    (lambda: predict.Prediction("Q?", ["one"]), "options must be two or more"),
    (lambda: predict.Prediction("Q?", ["a", "a"]), "options must be two or more"),
    (lambda: predict.Prediction("Q?", "ab"), "options must be two or more"),
    (lambda: predict.Prediction("Q?", OPTIONS).commit("sideways"), "option must be one of"),
    (lambda: predict.Prediction("Q?", OPTIONS).verdict("sideways", ""), "answer must be one of"),
])
def test_bad_input_is_refused_by_name(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_second_commit_is_refused():
    prediction = predict.Prediction("Q?", OPTIONS)
    prediction.commit("faster")
    with pytest.raises(ValueError, match="made once"):
        prediction.commit("slower")


def test_ask_prints_the_question_for_a_reader_without_a_kernel(capsys):
    prediction = predict.ask("Which is faster?", OPTIONS)
    shown = capsys.readouterr().out
    assert "Predict: Which is faster?" in shown and "(c) slower" in shown
    assert prediction.choice is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_asks_two_predictions_before_it_measures_and_reveals_each_in_a_checked_cell(path):
    cells = [("".join(c["source"]), c["cell_type"]) for c in json.loads(path.read_text())["cells"]]
    asked = {m.group(1): i for i, (source, kind) in enumerate(cells) if kind == "code"
             for m in re.finditer(r"^(\w+) = predict\.ask\(", source, re.MULTILINE)}
    revealed = {m.group(1): i for i, (source, kind) in enumerate(cells) if kind == "code"
                for m in re.finditer(r"^(\w+)\.reveal\(", source, re.MULTILINE)}
    assert len(asked) >= 2, f"{path.name} asks {len(asked)} predictions"
    assert set(asked) == set(revealed), f"{path.name}: asked {sorted(asked)}, revealed {sorted(revealed)}"
    for name, position in asked.items():
        assert revealed[name] > position + 1, f"{name} is revealed before a cell has measured it"
        assert cells[revealed[name]][0].startswith("# NBVAL_CHECK_OUTPUT"), f"{name}'s answer is not checked"
