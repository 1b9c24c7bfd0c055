"""kdviz.prune: the hand-written mask against torch.nn.utils.prune; pruning copies, scopes, scores and schedules."""
from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from conftest import striped_images
from kdviz import measure, models, prune, train


@pytest.mark.parametrize("amount", [0.0, 0.3, 0.5, 0.9, 0.999])
def test_magnitude_mask_matches_torch(amount):
    layer = nn.Linear(40, 30)
    torch_prune.l1_unstructured(layer, "weight", amount=amount)
    assert torch.equal(prune.magnitude_mask(layer.weight_orig, amount), layer.weight_mask)


def test_global_pruning_removes_the_smallest_weights_overall_and_leaves_the_original_alone():
    torch.manual_seed(0)
    model = models.build("teacher", width=4, hidden=16)
    pruned = prune.prune_model(model, 0.8)
    assert prune.sparsity(model) == 0.0
    assert prune.sparsity(pruned) == pytest.approx(0.8, abs=1e-4)
    weights = torch.cat([layer.weight.detach().abs().flatten() for layer in models.prunable_layers(model).values()])
    threshold = weights.kthvalue(round(0.8 * len(weights))).values
    for name, layer in models.prunable_layers(pruned).items():
        original = models.prunable_layers(model)[name].weight.detach().abs()
        kept = layer.weight_mask.bool()
        assert (original[kept] >= threshold).all() and (original[~kept] <= threshold).all()
    assert measure.count_nonzero(pruned) < measure.count_nonzero(model)


def test_layer_scope_prunes_every_layer_by_the_same_fraction():
    model = models.build("teacher", width=4, hidden=16)
    pruned = prune.prune_model(model, 0.5, scope="layer")
    assert all(s == pytest.approx(0.5, abs=0.02) for s in prune.layer_sparsity(pruned).values())


def test_scores_replace_the_magnitude_even_when_negative():
    layer = nn.Sequential(nn.Linear(10, 10))
    magnitude = layer[0].weight.detach().abs()
    pruned = prune.prune_model(layer, 0.3, scores={"0": -magnitude})  # rank the largest weights lowest
    kept = pruned[0].weight_mask.bool()
    assert magnitude[~kept].min() >= magnitude[kept].max()
    with pytest.raises(ValueError, match=r"missing \['0'\]"):
        prune.prune_model(layer, 0.3, scores={})
    with pytest.raises(ValueError, match="has shape"):
        prune.prune_model(layer, 0.3, scores={"0": torch.ones(3)})


def test_make_permanent_folds_the_mask_into_a_plain_weight():
    pruned = prune.prune_model(models.build("mlp", hidden=8), 0.6)
    assert {"1.weight_orig", "1.weight_mask"} <= set(pruned.state_dict())
    prune.make_permanent(pruned)
    assert "1.weight_orig" not in pruned.state_dict() and "1.weight" in pruned.state_dict()
    assert prune.sparsity(pruned) == pytest.approx(0.6, abs=1e-3)


@pytest.mark.parametrize("call, message", [
    (lambda: prune.prune_model(nn.Linear(3, 3), 1.0), r"amount must be a fraction in \[0, 1\)"),
    (lambda: prune.prune_model(nn.Linear(3, 3), -0.1), r"amount must be a fraction in \[0, 1\)"),
    (lambda: prune.magnitude_mask(torch.ones(3), "half"), r"amount must be a fraction"),
    (lambda: prune.prune_model(nn.Sequential(nn.ReLU()), 0.5), "must contain Conv2d or Linear layers"),
    (lambda: prune.prune_model(nn.Linear(3, 3), 0.5, scope="row"), r"scope must be one of \['global', 'layer'\]"),
    (lambda: prune.magnitude_mask(torch.ones(0), 0.5), "weight must be a non-empty float tensor"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _trained_mlp():
    train_split, test_split = striped_images(400, seed=0), striped_images(200, seed=1)
    torch.manual_seed(0)
    model = models.build("mlp", hidden=16)
    train.fit(model, train_split, epochs=3, lr=0.05, progress=False)
    return model, train_split, test_split


def test_one_shot_curve_and_sensitivity_evaluate_each_level():
    model, _, test_split = _trained_mlp()
    curve = prune.one_shot_curve(model, [0.0, 0.5, 0.99], test_split, progress=False)
    assert [round(r["sparsity"], 2) for r in curve] == [0.0, 0.5, 0.99]
    assert curve[0]["accuracy"] == pytest.approx(train.evaluate(model, *test_split).accuracy)
    assert curve[2]["accuracy"] < curve[0]["accuracy"]
    curves = prune.sensitivity(model, [0.0, 0.99], test_split, progress=False)
    assert list(curves) == ["1", "3"] and all(len(c) == 2 for c in curves.values())
    assert curves["1"][0] == curves["3"][0] == pytest.approx(curve[0]["accuracy"])  # nothing pruned: the model
    assert curves["1"][1] < curves["1"][0]


def test_iterative_pruning_reaches_the_schedule_and_keeps_the_zeros():
    model, train_split, test_split = _trained_mlp()
    pruned, records = prune.iterative_prune(model, [0.5, 0.8], train_split, test_split, lr=0.01, progress=False,
                                            augmentation=False)
    assert [round(r["sparsity"], 3) for r in records] == [0.5, 0.8]
    assert prune.sparsity(pruned) == pytest.approx(0.8, abs=1e-3) and records[-1]["accuracy"] > 0.5
    with pytest.raises(ValueError, match="non-decreasing"):
        prune.iterative_prune(model, [0.8, 0.5], train_split, test_split)


def test_each_pruning_step_fine_tunes_on_its_own_subset_of_images_per_step(monkeypatch):
    model, train_split, test_split = _trained_mlp()
    seen, fit = [], train.fit

    def spy(current, split, *args, **kwargs):
        seen.append(split)
        return fit(current, split, *args, **kwargs)

    monkeypatch.setattr(train, "fit", spy)
    prune.iterative_prune(model, [0.5, 0.8], train_split, test_split, progress=False, augmentation=False,
                          images_per_step=100)
    assert [len(labels) for _, labels in seen] == [100, 100] and not torch.equal(seen[0][0], seen[1][0])
    assert torch.bincount(seen[0][1], minlength=10).tolist() == [10] * 10  # balanced
    with pytest.raises(ValueError, match="images_per_step must be a positive integer or None, got 0"):
        prune.iterative_prune(model, [0.5], train_split, test_split, images_per_step=0)


def test_the_threshold_from_sorted_magnitudes_is_the_global_threshold():
    weights = torch.randn(5001, generator=torch.Generator().manual_seed(3))
    magnitudes = prune.sorted_magnitudes(weights)
    for amount in (0.0, 0.001, 0.25, 0.5, 0.9, 0.999):
        assert prune.threshold_of_sorted(magnitudes, amount) == prune.global_threshold(weights, amount)
    with pytest.raises(ValueError, match="amount"):
        prune.threshold_of_sorted(magnitudes, 1.5)


def test_global_threshold_splits_the_weights_at_the_sparsity():
    weights = torch.linspace(-1, 1, 201)
    threshold = prune.global_threshold(weights, 0.5)
    assert float((weights.abs() <= threshold).float().mean()) == pytest.approx(0.5, abs=0.01)
    assert prune.global_threshold(weights, 0.0) == 0.0
    model = models.build("mlp", hidden=8)
    assert prune.all_weights(model).numel() == 784 * 8 + 8 * 10
