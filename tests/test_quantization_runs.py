"""kdviz.quantization_runs: the teacher's quantization experiments on small fake data, cached."""
from __future__ import annotations

import pytest
import torch

from kdviz import quantization_runs, quantize


def test_weight_and_activation_curves_are_cached(small_world, monkeypatch):
    weights = quantization_runs.weight_bits(small_world, bits=(8, 1))
    assert list(weights) == ["per tensor", "per channel"]
    assert [r["bits"] for r in weights["per channel"]] == [8, 1]
    assert weights["per channel"][0]["accuracy"] >= weights["per channel"][1]["accuracy"]
    monkeypatch.setattr(quantize, "quantize_weights", lambda *a, **k: pytest.fail("computed again"))
    assert quantization_runs.weight_bits(small_world, bits=(8, 1)) == weights
    curves = quantization_runs.activation_bits(small_world, bits=(8, 2))
    assert list(curves) == ["minmax", "percentile", "mse"] and all(len(c) == 2 for c in curves.values())


def test_qat_returns_a_cached_model_on_the_grid(small_world, monkeypatch):
    model, result = quantization_runs.qat(small_world, bits=2, epochs=1)
    assert result["bits"] == 2 and 0 <= result["qat"] <= 1 and 0 <= result["post_training"] <= 1
    assert all(len(torch.unique(row)) <= 4 for row in model[16].weight.detach())
    monkeypatch.setattr(quantize, "prepare_qat", lambda *a, **k: pytest.fail("trained again"))
    again, same = quantization_runs.qat(small_world, bits=2, epochs=1)
    assert same == result and torch.equal(again[16].weight, model[16].weight)
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 16"):
        quantization_runs.qat(small_world, bits=20)


def test_the_float_control_is_the_teacher_fine_tuned_as_long_as_qat(small_world, monkeypatch):
    from kdviz import train

    teacher = train.cached_teacher(small_world)
    model, result = quantization_runs.float_finetuned(small_world, epochs=1)
    assert 0 <= result["accuracy"] <= 1 and len(result["history"]) == 1
    assert not torch.equal(model[16].weight, teacher[16].weight)  # trained further
    assert torch.equal(train.cached_teacher(small_world)[16].weight, teacher[16].weight)  # the teacher is untouched
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    again, same = quantization_runs.float_finetuned(small_world, epochs=1)
    assert same == result and torch.equal(again[16].weight, model[16].weight)


def test_activation_functions_train_each_function_per_seed_and_are_cached(small_world, monkeypatch):
    from kdviz import calibration, train

    result = quantization_runs.activation_functions(small_world, hidden=16, epochs=1)
    rows = result["rows"]
    assert [(r["function"], r["seed"]) for r in rows] == [(f, s) for f in calibration.ACTIVATION_LAYERS
                                                          for s in small_world.seeds]
    for row in rows:
        assert all(0 <= row[f"{m}, {b} bits"] <= 1 for m in calibration.CALIBRATIONS
                   for b in quantization_runs.ACTIVATION_FUNCTION_BITS)
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert quantization_runs.activation_functions(small_world, hidden=16, epochs=1) == result


def test_points_lost_are_means_and_spreads_over_seeds():
    rows = [{"function": "tanh", "seed": 0, "float": 0.90, "minmax, 8 bits": 0.90, "minmax, 4 bits": 0.88,
             "minmax, 2 bits": 0.80},
            {"function": "tanh", "seed": 1, "float": 0.92, "minmax, 8 bits": 0.91, "minmax, 4 bits": 0.92,
             "minmax, 2 bits": 0.86},
            {"function": "ReLU", "seed": 0, "float": 0.91, "minmax, 8 bits": 0.91, "minmax, 4 bits": 0.85,
             "minmax, 2 bits": 0.50}]
    table = quantization_runs.points_lost({"rows": rows}, "minmax")
    assert list(table.index) == ["tanh", "ReLU"]
    assert table.loc["tanh", "float %"] == pytest.approx(91.0)
    assert table.loc["tanh", "2 bits"] == pytest.approx((10 + 6) / 2)
    assert table.loc["tanh", "2 bits sd"] == pytest.approx(2 ** 0.5 * 2)  # sample sd of 10 and 6
    assert table.loc["tanh", "4 bits"] == pytest.approx((2 + 0) / 2)
    assert table.loc["ReLU", "2 bits"] == pytest.approx(41.0) and table.loc["ReLU", "2 bits sd"] == 0
    with pytest.raises(ValueError, match="method must be one of"):
        quantization_runs.points_lost({"rows": rows}, "median")
