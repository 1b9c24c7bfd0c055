"""kdviz.low_rank and kdviz.low_rank_runs: truncated-SVD factorization checked against torch.linalg.svd's
reconstruction, and the teacher's rank sweep, cached."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdviz import low_rank, low_rank_runs, models, train


def _reconstruction(weight: torch.Tensor, rank: int) -> torch.Tensor:
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False)
    return (u[:, :rank] @ torch.diag(s[:rank]) @ vh[:rank]).float()


def test_factors_multiply_to_the_truncated_svd():
    torch.manual_seed(0)
    weight = torch.randn(40, 70)
    for rank in (1, 5, 40):
        first, second = low_rank.factors(weight, rank)
        assert first.shape == (rank, 70) and second.shape == (40, rank)
        assert torch.allclose(second @ first, _reconstruction(weight, rank), atol=1e-5)
    assert torch.allclose(second @ first, weight, atol=1e-5)  # full rank: the layer itself


def test_a_factorized_linear_layer_computes_the_rank_r_layer():
    torch.manual_seed(0)
    layer, x = nn.Linear(50, 20), torch.randn(8, 50)
    pair = low_rank.factorize(layer, 6)
    assert [type(m) for m in pair] == [nn.Linear, nn.Linear] and pair[0].bias is None
    expected = x @ _reconstruction(layer.weight.detach(), 6).T + layer.bias.detach()
    assert torch.allclose(pair(x), expected, atol=1e-5)
    assert sum(p.numel() for p in pair.parameters()) == 6 * (50 + 20) + 20


def test_a_factorized_convolution_computes_the_rank_r_convolution():
    torch.manual_seed(0)
    conv, x = nn.Conv2d(8, 12, 3, stride=2, padding=1), torch.randn(2, 8, 9, 9)
    pair = low_rank.factorize(conv, 4)
    assert pair[0].kernel_size == (3, 3) and pair[1].kernel_size == (1, 1) and pair[0].out_channels == 4
    weight = _reconstruction(conv.weight.detach().flatten(1), 4).reshape(conv.weight.shape)
    expected = nn.functional.conv2d(x, weight, conv.bias.detach(), stride=2, padding=1)
    assert torch.allclose(pair(x), expected, atol=1e-5)


def test_energy_and_singular_values():
    torch.manual_seed(0)
    layer = nn.Linear(30, 10)
    values = low_rank.singular_values(layer)
    assert torch.allclose(values, torch.linalg.svdvals(layer.weight.detach()), atol=1e-6)
    kept = [low_rank.energy_kept(values, r) for r in range(1, 11)]
    assert all(a < b for a, b in zip(kept, kept[1:])) and kept[-1] == pytest.approx(1.0)
    assert kept[0] == pytest.approx(float(values[0] ** 2 / (values ** 2).sum()), rel=1e-6)


def test_low_rank_replaces_only_the_layers_named_and_bad_input_is_named():
    teacher = models.build("teacher").eval()
    factorized = low_rank.low_rank(teacher, {16: 8})
    assert isinstance(factorized[16], nn.Sequential) and isinstance(teacher[16], nn.Linear)
    assert all(type(a) is type(b) for i, (a, b) in enumerate(zip(teacher, factorized)) if i != 16)
    assert factorized(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"rank must be an integer from 1 to 256"):
        low_rank.low_rank(teacher, {16: 300})
    with pytest.raises(ValueError, match="ranks must map layer indices"):
        low_rank.low_rank(teacher, {40: 2})
    with pytest.raises(ValueError, match="layer must be an nn.Linear or an ungrouped nn.Conv2d"):
        low_rank.factorize(nn.ReLU(), 2)
    with pytest.raises(ValueError, match="model must be an nn.Sequential"):
        low_rank.low_rank(nn.Linear(3, 3), {0: 1})


def test_the_rank_sweep_and_fine_tuning_are_cached(small_world, monkeypatch):
    result = low_rank_runs.sweep(small_world)
    full = min(train.cached_teacher(small_world)[low_rank_runs.LAYER].weight.shape)
    assert [row["rank"] for row in result["ranks"]] == [r for r in low_rank_runs.RANKS if r <= full]
    assert all(row["parameters"] < result["teacher"]["parameters"] for row in result["ranks"][:2])
    model, row = low_rank_runs.finetuned(small_world, rank=2, progress=False)
    assert row["rank"] == 2 and isinstance(model[low_rank_runs.LAYER], nn.Sequential)
    assert row["parameters"] == result["ranks"][1]["parameters"]  # the same architecture as the sweep's rank 2
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert low_rank_runs.finetuned(small_world, rank=2, progress=False)[1] == row
    assert low_rank_runs.sweep(small_world) == result


def test_factors_need_a_matrix():
    with pytest.raises(ValueError, match=r"weight must be a matrix \(out, in\)"):
        low_rank.factors(torch.zeros(4, 3, 3, 3), 2)
