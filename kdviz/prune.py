"""Unstructured pruning with torch.nn.utils.prune: magnitude or any saliency, per layer or global, one-shot or
iterative with fine-tuning, and per-layer sensitivity (introduced in 02)."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune
from tqdm.auto import tqdm

from kdviz import data, models, train
from kdviz.models import copy_model

Scores = dict[str, torch.Tensor]  # layer name -> importance of each weight (same shape); low is pruned first
SCOPES = ("global", "layer")


def validate_amount(amount: float, name: str = "amount") -> float:
    """``amount`` (the fraction of weights removed) as a float in [0, 1), or a clear error."""
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not 0.0 <= amount < 1.0:
        raise ValueError(f"{name} must be a fraction in [0, 1) (0.9 removes 90 % of the weights), got {amount!r}")
    return float(amount)


def _check_weights(weight: torch.Tensor, name: str) -> None:
    if not isinstance(weight, torch.Tensor) or not weight.is_floating_point() or weight.numel() == 0:
        raise ValueError(f"{name} must be a non-empty float tensor, got {weight!r:.60}")
    if not torch.isfinite(weight).all():
        raise ValueError(f"{name} must be finite (no nan or inf): a diverged model cannot be ranked by magnitude")


def magnitude_mask(weight: torch.Tensor, amount: float) -> torch.Tensor:
    """The mask (1 keep, 0 prune) that removes the ``amount`` fraction of weights with the smallest |w|.

    Written out because it is the lesson; tested against ``torch.nn.utils.prune.l1_unstructured``.
    """
    validate_amount(amount)
    _check_weights(weight, "weight")
    count = round(amount * weight.numel())  # torch's rounding of a fraction
    mask = torch.ones_like(weight)
    if count:
        smallest = torch.topk(weight.detach().abs().flatten(), k=count, largest=False).indices
        mask.view(-1)[smallest] = 0
    return mask


def prune_model(model: nn.Module, amount: float, *, scope: str = "global", scores: Scores | None = None) -> nn.Module:
    """A pruned copy of ``model`` (the original is untouched), masks kept by torch.nn.utils.prune.

    ``scope="global"`` ranks all weights together, ``"layer"`` removes ``amount`` of every layer. ``scores``
    (a saliency per weight, e.g. OBD's) replaces the magnitude |w| as the ranking.
    """
    validate_amount(amount)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {list(SCOPES)}, got {scope!r}")
    pruned = copy_model(model)
    layers = models.prunable_layers(pruned)
    for name, layer in layers.items():
        _check_weights(layer.weight.detach(), f"the weight of layer {name}")
    if scores is not None:
        missing = sorted(set(layers) - set(scores))
        if missing:
            raise ValueError(f"scores must give a score for every prunable layer; missing {missing}")
        for name, layer in layers.items():
            if scores[name].shape != layer.weight.shape:
                raise ValueError(f"scores[{name!r}] has shape {tuple(scores[name].shape)}, the weight "
                                 f"{tuple(layer.weight.shape)}")
    importance = None
    if scores is not None:  # torch ranks |score|: shift so the lowest (even a negative) saliency goes first
        lowest = min(float(scores[name].min()) for name in layers)
        importance = {(layer, "weight"): scores[name].detach().to(layer.weight.device)
                      - (lowest if scope == "global" else float(scores[name].min())) for name, layer in layers.items()}
    if scope == "global":
        torch_prune.global_unstructured(list(importance or [(layer, "weight") for layer in layers.values()]),
                                        pruning_method=torch_prune.L1Unstructured, importance_scores=importance,
                                        amount=amount)
    else:
        for layer in layers.values():
            torch_prune.l1_unstructured(layer, "weight", amount=amount,
                                        importance_scores=importance[(layer, "weight")] if importance else None)
    return pruned


def layer_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of exactly-zero weights in each prunable layer."""
    return {name: float((layer.weight == 0).float().mean()) for name, layer in models.prunable_layers(model).items()}


def sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over all prunable layers (biases and batch norm not counted)."""
    weights = [layer.weight for layer in models.prunable_layers(model).values()]
    return float(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every mask into its weight (``prune.remove``): a plain dense model with zeros, in place."""
    for layer in models.prunable_layers(model).values():
        if torch_prune.is_pruned(layer) and hasattr(layer, "weight_mask"):
            torch_prune.remove(layer, "weight")
    return model


def one_shot_curve(model: nn.Module, sparsities: Sequence[float], test: train.Split, *, scope: str = "global",
                   scores: Scores | None = None, progress: bool = True, description: str = "one-shot pruning") -> list[dict]:
    """Accuracy and loss after pruning ``model`` once to each sparsity, without retraining."""
    results = []
    for amount in tqdm(list(sparsities), desc=description, disable=not progress):
        pruned = prune_model(model, amount, scope=scope, scores=scores)
        evaluation = train.evaluate(pruned, *test)
        results.append({"sparsity": sparsity(pruned), "accuracy": evaluation.accuracy, "loss": evaluation.loss})
    return results


def sensitivity(model: nn.Module, sparsities: Sequence[float], test: train.Split,
                progress: bool = True) -> dict[str, list[float]]:
    """Accuracy when only one layer is pruned (by magnitude) to each sparsity: {layer: [accuracy, ...]}. Nothing
    pruned is the same model for every layer: it is evaluated once."""
    layers = list(models.prunable_layers(model))
    curves: dict[str, list[float]] = {name: [] for name in layers}
    unpruned: float | None = None
    bar = tqdm(total=len(layers) * len(sparsities), desc="sensitivity", disable=not progress)
    for name in layers:
        for amount in sparsities:
            if validate_amount(amount) == 0:
                unpruned = train.evaluate(model, *test).accuracy if unpruned is None else unpruned
                curves[name].append(unpruned)
            else:
                pruned = copy_model(model)
                torch_prune.l1_unstructured(dict(pruned.named_modules())[name], "weight", amount=amount)
                curves[name].append(train.evaluate(pruned, *test).accuracy)
            bar.update()
    bar.close()
    return curves


def iterative_prune(model: nn.Module, schedule: Sequence[float], train_split: train.Split, test: train.Split, *,
                    epochs_per_step: int = 1, lr: float = 0.01, scores_fn: Callable[[nn.Module], Scores] | None = None,
                    seed: int = 0, progress: bool = True, device: torch.device | str | None = None,
                    augmentation: bool = True, images_per_step: int | None = None) -> tuple[nn.Module, list[dict]]:
    """Prune to each sparsity of ``schedule`` in turn (global), fine-tuning after each step with the masks in place.

    ``scores_fn(model)`` ranks the weights at each step (OBD: train, compute saliencies, delete, retrain, repeat);
    by default the magnitude. Each step fine-tunes on ``images_per_step`` training images (a different balanced
    subset each step; None: all of them). Returns the pruned model (masks made permanent) and one record per step.
    """
    steps = [validate_amount(a, "schedule") for a in schedule]
    if not steps or any(b < a for a, b in zip(steps, steps[1:])):
        raise ValueError(f"schedule must be a non-empty, non-decreasing list of sparsities, got {list(schedule)}")
    if images_per_step is not None and (isinstance(images_per_step, bool) or not isinstance(images_per_step, int)
                                        or images_per_step <= 0):
        raise ValueError(f"images_per_step must be a positive integer or None, got {images_per_step!r}")
    current = copy_model(model)
    records = []
    for step, amount in enumerate(steps, 1):
        scores = scores_fn(current) if scores_fn else None  # weights pruned earlier are zero: they rank lowest
        current = prune_model(current, amount, scores=scores)
        before = train.evaluate(current, *test, device=device).accuracy
        step_seed = 1000 * seed + step
        step_split = data.subset(*train_split, images_per_step, seed=step_seed)
        history = train.fit(current, step_split, test, epochs=epochs_per_step, lr=lr, seed=step_seed,
                            augmentation=augmentation, device=device, progress=progress,
                            description=f"fine-tune at {100 * amount:.1f} % sparsity")
        current = make_permanent(current)
        records.append({"step": step, "sparsity": sparsity(current), "accuracy_pruned": before,
                        "accuracy": history.final_test_accuracy})
    return current, records


def all_weights(model: nn.Module) -> torch.Tensor:
    """Every prunable weight of the model in one flat tensor (masks applied)."""
    return torch.cat([layer.weight.detach().flatten().cpu() for layer in models.prunable_layers(model).values()])


def sorted_magnitudes(weights: torch.Tensor) -> torch.Tensor:
    """Every |w|, smallest first: sorted once, it gives the global threshold at any sparsity at once
    (:func:`threshold_of_sorted`), as a slider needs."""
    _check_weights(weights, "weights")
    return weights.detach().abs().flatten().sort().values


def threshold_of_sorted(magnitudes: torch.Tensor, amount: float) -> float:
    """:func:`global_threshold` from :func:`sorted_magnitudes`."""
    validate_amount(amount)
    count = round(amount * magnitudes.numel())
    return 0.0 if count == 0 else float(magnitudes[count - 1])


def global_threshold(weights: torch.Tensor, amount: float) -> float:
    """The |w| below which global magnitude pruning removes weights to reach ``amount`` sparsity."""
    validate_amount(amount)
    _check_weights(weights, "weights")
    count = round(amount * weights.numel())
    return 0.0 if count == 0 else float(weights.abs().flatten().kthvalue(count).values)
