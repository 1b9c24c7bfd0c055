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


class Maxout(nn.Module):
    """A maxout unit (Goodfellow et al., 2013): the largest of ``pieces`` learned affine pieces. It follows a
    layer with ``pieces`` times as many outputs and keeps the largest of each group of ``pieces``."""

    def __init__(self, pieces: int = 2) -> None:
        super().__init__()
        if isinstance(pieces, bool) or not isinstance(pieces, int) or pieces < 2:
            raise ValueError(f"pieces must be an integer of at least 2, got {pieces!r}")
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % self.pieces:
            raise ValueError(f"maxout's input must have a multiple of {self.pieces} features (its pieces), got {x.shape[-1]}")
        return x.unflatten(-1, (-1, self.pieces)).amax(-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


# the layers of the activation functions that FUNCTIONS draws, as a network uses them (maxout's pieces are learned)
ACTIVATION_LAYERS: dict[str, Callable[[], nn.Module]] = {
    "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "ReLU": nn.ReLU, "leaky ReLU": nn.LeakyReLU, "ELU": nn.ELU,
    "ReLU6": nn.ReLU6, "maxout (2 pieces)": Maxout,
}


def activation_net(function: str, hidden: int = 128) -> nn.Sequential:
    """The same small network for every activation function: 784 -> hidden -> hidden -> 10, ``function`` after
    each hidden layer. Maxout's layers have twice the outputs (two learned pieces per unit), so every function
    sees ``hidden`` units."""
    if function not in ACTIVATION_LAYERS:
        raise ValueError(f"function must be one of {list(ACTIVATION_LAYERS)}, got {function!r}")
    if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden <= 0:
        raise ValueError(f"hidden must be a positive integer, got {hidden!r}")
    pieces = 2 if function.startswith("maxout") else 1
    layer = ACTIVATION_LAYERS[function]
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden * pieces), layer(),
                         nn.Linear(hidden, hidden * pieces), layer(), nn.Linear(hidden, 10))


def _activation_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The model's activation layers (those of ACTIVATION_LAYERS), by name."""
    kinds = tuple(ACTIVATION_LAYERS.values())
    return {name: m for name, m in model.named_modules() if isinstance(m, kinds)}


def activation_samples(model: nn.Module, images: torch.Tensor, *, per_layer: int = 20_000, seed: int = 0,
                       batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Outputs of every activation layer (ReLU, or another of ACTIVATION_LAYERS) of the model on the images
    (uint8), ``per_layer`` values sampled from each, by name."""
    if len(images) == 0:
        raise ValueError("images must hold at least one image")
    layers = _activation_layers(model)
    if not layers:
        raise ValueError(f"model must contain activation layers (ReLU, ...); {type(model).__name__} has none")
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
    """A copy of the model whose every activation layer's output (ReLU, or another of ACTIVATION_LAYERS) is
    fake-quantized to ``bits`` with ranges calibrated on the images (weights stay float): the effect of activation
    quantization alone."""
    samples = activation_samples(model, calibration_images)
    quantized = copy_model(model)
    modules = dict(quantized.named_modules())
    for name, values in samples.items():
        params = calibrate(values, bits, method)
        modules[name].register_forward_hook(
            lambda mod, inp, out, p=params: quantize.round_trip(out, p))
    return quantized
