"""kdviz.pipeline_runs: the distil, prune, int8 pipeline on small fake data, cached step by step."""
from __future__ import annotations

import pytest

from kdviz import measure, pipeline_runs

SMALL = dict(width=8, hidden=32, epochs=2, finetune_epochs=1)  # big enough for int8 to beat its own overhead


def test_each_step_is_smaller_and_cached(small_world, monkeypatch):
    steps = pipeline_runs.steps(pipeline_runs.Pipeline(**SMALL), small_world, progress=False)
    assert [s.name for s in steps] == ["teacher", "distilled student", "+ 50 % channels pruned", "+ int8"]
    sizes = [measure.serialized_bytes(s.model) for s in steps]
    assert sizes[1] > 2.5 * sizes[2] > 2.5 * sizes[3]  # half the channels: about a quarter of the weights
    assert steps[2].model[0].out_channels == 4 and steps[3].macs == steps[2].macs < steps[1].macs
    assert all(0.0 <= s.accuracy <= 1.0 for s in steps)
    assert steps[1].accuracy > 0.3  # well above chance (0.1): the bright row of the fake images says the class
    monkeypatch.setattr(pipeline_runs.train, "fit", lambda *a, **k: pytest.fail("trained again"))
    again = pipeline_runs.steps(pipeline_runs.Pipeline(**SMALL), small_world, progress=False)
    assert [s.accuracy for s in again[:3]] == [s.accuracy for s in steps[:3]]


def test_scratch_is_another_run_and_the_table_compares_with_the_teacher(small_world):
    distilled = pipeline_runs.student(pipeline_runs.Pipeline(**SMALL), small_world, progress=False)[1]
    scratch = pipeline_runs.student(pipeline_runs.Pipeline(method="scratch", **SMALL), small_world, progress=False)[1]
    assert distilled["history"] != scratch["history"]
    table = pipeline_runs.measure_steps(pipeline_runs.steps(pipeline_runs.Pipeline(**SMALL), small_world, progress=False),
                                  min_run_time=0.01)
    assert table["times smaller"].iloc[0] == 1.0
    ratio = table["bytes"].iloc[0] / table["bytes"].iloc[-1]
    assert table["times smaller"].iloc[-1] == pytest.approx(ratio) and ratio > 1
    assert table["points lost"].iloc[0] == 0.0
    assert list(table.columns[:2]) == ["bytes", "MACs"] and "ms @ batch 256" in table.columns


def test_over_seeds_reports_every_step(small_world):
    summary = pipeline_runs.over_seeds(pipeline_runs.Pipeline(**SMALL), seeds=(0, 1), profile=small_world, progress=False)
    assert list(summary) == list(pipeline_runs.STEP_NAMES)
    assert summary["teacher"]["sd"] == 0.0 and len(summary["int8"]["runs"]) == 2


@pytest.mark.parametrize("settings, message", [
    (dict(method="teacher"), r"method must be one of \['distilled', 'scratch'\]"),
    (dict(T=0), "T \\(the temperature\\) must be a number from"),
    (dict(alpha=2), r"alpha .* must be in \[0, 1\]"),
    (dict(prune_amount=1.0), r"prune_amount must be a fraction in \[0, 1\)"),
    (dict(width=0), "width must be a positive integer"),
])
def test_bad_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        pipeline_runs.Pipeline(**settings)
