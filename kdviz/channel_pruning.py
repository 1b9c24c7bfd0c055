"""Structured pruning: a smaller dense model without the weakest channels and hidden units (introduced in 02)."""
from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from kdviz import models, prune

_SUPPORTED = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Linear)


def channel_prune(model: nn.Sequential, amount: float) -> nn.Sequential:
    """A smaller dense copy of a plain sequential CNN (like the teacher) without the ``amount`` fraction of the
    channels (and hidden units) with the smallest L1 norm in every layer but the output layer.

    torch.nn.utils.prune.ln_structured picks the channels; the layers are then rebuilt without them: the batch
    norm that follows and the next layer's inputs lose them too.
    """
    prune.validate_amount(amount)
    if not isinstance(model, nn.Sequential) or not all(isinstance(m, _SUPPORTED) for m in model):
        raise ValueError("model must be an nn.Sequential of Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Dropout and "
                         "Linear layers, like the teacher")
    layers = list(models.copy_model(model))
    weighted = [i for i, m in enumerate(layers) if isinstance(m, (nn.Conv2d, nn.Linear))]
    if any(layers[i].groups != 1 for i in weighted if isinstance(layers[i], nn.Conv2d)):
        raise ValueError("model must use standard convolutions (groups=1) for channel pruning")
    kept, outputs_before = None, None
    for position, i in enumerate(weighted):
        layer = layers[i]
        last = position == len(weighted) - 1  # the output layer keeps all its classes
        strongest = None if last else _strongest_outputs(layer, amount, name=str(i))  # ranked in the original
        if kept is not None:
            _keep_inputs(layer, kept, outputs_before)
        if last:
            break
        outputs_before, kept = layer.weight.shape[0], strongest
        _keep_outputs(layer, kept)
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(following, nn.BatchNorm2d):
            _keep_batch_norm(following, kept)
    return nn.Sequential(*layers)


def _strongest_outputs(layer: nn.Module, amount: float, name: str) -> torch.Tensor:
    probe = copy.deepcopy(layer)
    torch_prune.ln_structured(probe, "weight", amount=amount, n=1, dim=0)
    kept = probe.weight_mask.reshape(probe.weight_mask.shape[0], -1).any(1).nonzero().flatten()
    if len(kept) == 0:
        raise ValueError(f"amount {amount} leaves no channel in layer {name}; use a smaller amount")
    return kept


def _keep_outputs(layer: nn.Module, kept: torch.Tensor) -> None:
    layer.weight = nn.Parameter(layer.weight.detach()[kept].clone())
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.detach()[kept].clone())
    if isinstance(layer, nn.Conv2d):
        layer.out_channels = len(kept)
    else:
        layer.out_features = len(kept)


def _keep_inputs(layer: nn.Module, kept: torch.Tensor, outputs_before: int) -> None:
    if isinstance(layer, nn.Conv2d):
        layer.weight = nn.Parameter(layer.weight.detach()[:, kept].clone())
        layer.in_channels = len(kept)
        return
    per_channel = layer.in_features // outputs_before  # a Linear after Flatten sees H x W inputs per channel
    columns = (kept[:, None] * per_channel + torch.arange(per_channel)).flatten()
    layer.weight = nn.Parameter(layer.weight.detach()[:, columns].clone())
    layer.in_features = len(columns)


def _keep_batch_norm(norm: nn.BatchNorm2d, kept: torch.Tensor) -> None:
    norm.weight = nn.Parameter(norm.weight.detach()[kept].clone())
    norm.bias = nn.Parameter(norm.bias.detach()[kept].clone())
    norm.running_mean = norm.running_mean[kept].clone()
    norm.running_var = norm.running_var[kept].clone()
    norm.num_features = len(kept)
