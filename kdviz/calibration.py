"""Activation functions, the ranges a real network's activations take, and calibrating their quantization
(min/max, percentile, or the clipping range of least error) (introduced in 03)."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from kdviz import data, models, quantize
from kdviz.models import copy_model


def _maxout(x: torch.Tensor) -> torch.Tensor:
    return torch.maximum(x, 0.25 * x - 0.5)  # the max of two affine pieces (a maxout unit with k = 2)


FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid, "tanh": torch.tanh, "ReLU": F.relu, "leaky ReLU": F.leaky_relu, "ELU": F.elu,
    "ReLU6": F.relu6, "maxout (2 pieces)": _maxout,
}
CALIBRATIONS = ("minmax", "percentile", "mse")


def activation_samples(model: nn.Module, images: torch.Tensor, *, per_layer: int = 20_000, seed: int = 0,
                       batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Outputs of every ReLU of the model on the images (uint8), ``per_layer`` values sampled from each, by name."""
    if len(images) == 0:
        raise ValueError("images must hold at least one image")
    layers = {name: m for name, m in model.named_modules() if isinstance(m, nn.ReLU)}
    if not layers:
        raise ValueError(f"model must contain ReLU layers; {type(model).__name__} has none")
    outputs: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=name: outputs[n].append(out.detach().flatten().cpu()))
             for name, m in layers.items()]
    model.eval()
    try:
        with torch.no_grad():
            labels = torch.zeros(len(images), dtype=torch.long)
            for x, _ in data.batches(images, labels, batch_size, device=models.device_of(model)):
                model(x)
    finally:
        for hook in hooks:
            hook.remove()
    generator = torch.Generator().manual_seed(seed)
    samples = {}
    for name, chunks in outputs.items():
        values = torch.cat(chunks)
        keep = torch.randperm(len(values), generator=generator)[:per_layer]
        samples[name] = values[keep]
    return samples


def calibrate(values: torch.Tensor, bits: int = 8, method: str = "minmax", percentile: float = 99.99) -> quantize.QParams:
    """Quantization parameters for activations observed as ``values`` (asymmetric, per tensor).

    "minmax" covers every value seen; "percentile" clips the rare largest ones; "mse" picks the clipping point of
    least squared error (a search over candidate ranges)."""
    quantize.validate_bits(bits)
    if method not in CALIBRATIONS:
        raise ValueError(f"method must be one of {list(CALIBRATIONS)}, got {method!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], got {percentile!r}")
    if not isinstance(values, torch.Tensor) or values.numel() == 0:
        raise ValueError(f"values must be a non-empty tensor of observed activations, got {values!r:.60}")
    values = values.detach().flatten().float()
    if not torch.isfinite(values).all():
        raise ValueError("values must be finite (no nan or inf): activations of a diverged model cannot be calibrated")
    low, high = values.min(), values.max()
    if method == "percentile":
        high = torch.quantile(values, percentile / 100)
        low = torch.quantile(values, 1 - percentile / 100)
    elif method == "mse":
        best = None
        for fraction in torch.linspace(0.05, 1.0, 96):
            params = quantize.qparams_from_range(low * fraction, high * fraction, bits)
            mse = float((quantize.round_trip(values, params) - values).pow(2).mean())
            if best is None or mse < best[0]:
                best = (mse, params)
        return best[1]
    return quantize.qparams_from_range(low, high, bits)


def quantize_activations(model: nn.Module, calibration_images: torch.Tensor, bits: int = 8,
                         method: str = "minmax") -> nn.Module:
    """A copy of the model whose every ReLU output is fake-quantized to ``bits`` with ranges calibrated on the
    images (weights stay float): the effect of activation quantization alone."""
    samples = activation_samples(model, calibration_images)
    quantized = copy_model(model)
    modules = dict(quantized.named_modules())
    for name, values in samples.items():
        params = calibrate(values, bits, method)
        modules[name].register_forward_hook(
            lambda mod, inp, out, p=params: quantize.round_trip(out, p))
    return quantized
