"""kdviz.pruning_runs: the teacher's pruning experiments on small fake data, cached."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kdviz import models, prune, pruning_runs


def test_one_shot_curves_and_saliencies_are_cached(small_world, monkeypatch):
    curves = pruning_runs.one_shot(small_world, sparsities=(0.0, 0.5))
    assert list(curves) == ["magnitude (global)", "magnitude (per layer)", "OBD (global)"]
    assert all(len(rows) == 2 for rows in curves.values())
    assert curves["OBD (global)"][0]["accuracy"] == curves["magnitude (global)"][0]["accuracy"]  # nothing removed
    monkeypatch.setattr(prune, "one_shot_curve", lambda *a, **k: pytest.fail("computed again"))
    assert pruning_runs.one_shot(small_world, sparsities=(0.0, 0.5)) == curves
    scores = pruning_runs.teacher_saliency(small_world)
    assert set(scores) == set(models.prunable_layers(pruning_runs.train.cached_teacher(small_world)))


def test_loss_prediction_and_sensitivity(small_world):
    prediction = pruning_runs.loss_prediction(small_world, fractions=(0.1, 0.5))
    assert [r["fraction"] for r in prediction["obd"]] == [0.1, 0.5]
    assert prediction["obd"][1]["predicted"] >= prediction["obd"][0]["predicted"] >= 0
    curves = pruning_runs.sensitivity(small_world, sparsities=(0.0, 0.9))
    assert curves["sparsities"] == [0.0, 0.9] and len(curves) == 1 + 6


def test_iterative_and_channel_pruning_return_cached_models(small_world, monkeypatch):
    model, result = pruning_runs.iterative(small_world, "obd", schedule=(0.5, 0.8))
    assert prune.sparsity(model) == pytest.approx(0.8, abs=1e-3) and len(result["steps"]) == 2
    monkeypatch.setattr(prune, "iterative_prune", lambda *a, **k: pytest.fail("computed again"))
    again, same = pruning_runs.iterative(small_world, "obd", schedule=(0.5, 0.8))
    assert same == result and prune.sparsity(again) == pytest.approx(0.8, abs=1e-3)
    smaller, record = pruning_runs.channel_pruned(small_world, amount=0.5, epochs=1)
    assert smaller[0].out_channels == 2 and 0 <= record["accuracy"] <= 1  # half of width 4
    with pytest.raises(ValueError, match=r"method must be one of \['magnitude', 'obd'\]"):
        pruning_runs.iterative(small_world, "random")


def test_the_tiny_nets_hessian_is_computed_once(small_world, monkeypatch):
    profile = replace(small_world, saliency_images=50, hutchinson_probes=(1, 4))
    hessian = pruning_runs.tiny_hessian(profile)
    assert list(hessian["estimates"]) == list(pruning_runs.TINY_ESTIMATES)
    assert [row["probes"] for row in hessian["convergence"]] == [1, 4]
    assert set(hessian["exact"]) == set(hessian["estimates"]["Fisher (sampled labels)"])
    monkeypatch.setattr(pruning_runs.obd, "exact_diagonal", lambda *a, **k: pytest.fail("computed again"))
    again = pruning_runs.tiny_hessian(profile)
    assert all(again["exact"][name].equal(tensor) for name, tensor in hessian["exact"].items())
    assert again["convergence"] == hessian["convergence"]
