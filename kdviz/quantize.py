"""Uniform affine quantization written out: scale and zero-point, symmetric or asymmetric, per tensor or per
channel, fake quantization and its error (introduced in 03). Tested against torch's own observers and
``torch.fake_quantize_per_tensor_affine`` / ``..._per_channel_affine``."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils import parametrize

from kdviz.models import copy_model, prunable_layers

EPSILON = torch.finfo(torch.float32).eps


def validate_bits(bits: int) -> int:
    """``bits`` as an int in 1..16, or a clear error."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
        raise ValueError(f"bits must be an integer from 1 to 16, got {bits!r}")
    return bits


def integer_range(bits: int, symmetric: bool) -> tuple[int, int]:
    """The integers a ``bits``-bit code can hold: signed [-2^(b-1), 2^(b-1) - 1] when symmetric, else [0, 2^b - 1]."""
    validate_bits(bits)
    if not isinstance(symmetric, bool):
        raise ValueError(f"symmetric must be True or False, got {symmetric!r}")
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if symmetric else (0, 2 ** bits - 1)


@dataclass(frozen=True)
class QParams:
    """How real numbers map to integers: q = clamp(round(x / scale) + zero_point, qmin, qmax)."""

    scale: torch.Tensor  # one per tensor, or one per channel along ``axis``
    zero_point: torch.Tensor  # int64, same shape as scale
    qmin: int
    qmax: int
    axis: int | None = None  # the channel axis of per-channel parameters

    @property
    def levels(self) -> int:
        return self.qmax - self.qmin + 1


def _check_tensor(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.numel() == 0:
        raise ValueError("tensor must be a non-empty torch.Tensor")
    if not torch.isfinite(x).all():
        raise ValueError("tensor must hold only finite numbers (no inf or nan)")


def choose_qparams(x: torch.Tensor, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> QParams:
    """Scale and zero-point from the tensor's range (its min and max, widened to include 0 so that 0 is exact),
    for the whole tensor or, with ``axis``, for each channel along it. The same rule as torch's MinMaxObserver."""
    _check_tensor(x)
    validate_bits(bits)
    if axis is None:
        low, high = x.min(), x.max()
    else:
        if isinstance(axis, bool) or not isinstance(axis, int) or not -x.dim() <= axis < x.dim():
            raise ValueError(f"axis must be a dimension of the tensor (shape {tuple(x.shape)}), got {axis}")
        flat = x.detach().movedim(axis, 0).reshape(x.shape[axis], -1)
        low, high = flat.min(dim=1).values, flat.max(dim=1).values
        axis = axis % x.dim()
    return qparams_from_range(low, high, bits, symmetric, axis)


def qparams_from_range(low: torch.Tensor | float, high: torch.Tensor | float, bits: int = 8, symmetric: bool = False,
                       axis: int | None = None) -> QParams:
    """Scale and zero-point that map [low, high] (widened to include 0) onto the ``bits``-bit integers: the step
    every calibration method (min/max, percentile, MSE search) ends with."""
    qmin, qmax = integer_range(bits, symmetric)
    low, high = torch.as_tensor(low, dtype=torch.float32), torch.as_tensor(high, dtype=torch.float32)
    if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
        raise ValueError(f"low and high must be finite numbers, got {low} and {high}")
    if (low > high).any():
        raise ValueError(f"low must not exceed high, got {low} and {high}")
    low, high = torch.clamp(low.detach(), max=0.0), torch.clamp(high.detach(), min=0.0)
    scale, zero_point = _scale_and_zero_point(low, high, qmin, qmax, symmetric)
    if not torch.isfinite(scale).all():  # a range as wide as float32's (-3e38 to 3e38): its width overflows
        scale, zero_point = _scale_and_zero_point(low.double(), high.double(), qmin, qmax, symmetric)
        scale = scale.clamp(max=torch.finfo(torch.float32).max).float()  # one bit's step over float32's range
    return QParams(scale.reshape(-1) if axis is not None else scale.reshape(()), zero_point.reshape(scale.shape),
                   qmin, qmax, axis)


def _scale_and_zero_point(low: torch.Tensor, high: torch.Tensor, qmin: int, qmax: int,
                          symmetric: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if symmetric:
        scale = torch.clamp(torch.maximum(-low, high) / ((qmax - qmin) / 2), min=EPSILON)
        return scale, torch.zeros_like(scale, dtype=torch.int64)
    scale = torch.clamp((high - low) / (qmax - qmin), min=EPSILON)
    return scale, torch.clamp(qmin - torch.round(low / scale), qmin, qmax).to(torch.int64)


def _broadcast(values: torch.Tensor, x: torch.Tensor, axis: int | None) -> torch.Tensor:
    if axis is None:
        return values
    shape = [1] * x.dim()
    shape[axis] = -1
    return values.reshape(shape)


def validate_scale(scale: torch.Tensor) -> None:
    """A scale must be positive: it is the step between two neighbouring levels."""
    if (torch.as_tensor(scale) <= 0).any():
        raise ValueError(f"scale must be positive (the step between two levels), got {scale}")


def quantize(x: torch.Tensor, params: QParams) -> torch.Tensor:
    """Real numbers to integer codes: clamp(round(x / scale) + zero_point, qmin, qmax) (int64)."""
    _check_tensor(x)
    validate_scale(params.scale)
    scale, zero_point = _broadcast(params.scale, x, params.axis), _broadcast(params.zero_point, x, params.axis)
    return torch.clamp(torch.round(x / scale) + zero_point, params.qmin, params.qmax).to(torch.int64)


def dequantize(q: torch.Tensor, params: QParams) -> torch.Tensor:
    """Integer codes back to real numbers: (q - zero_point) * scale (the lowest level of a grid as wide as float32's
    range lies beyond it: it becomes float32's largest value, not infinity)."""
    scale, zero_point = _broadcast(params.scale, q, params.axis), _broadcast(params.zero_point, q, params.axis)
    largest = torch.finfo(torch.float32).max
    return ((q - zero_point).float() * scale).clamp(-largest, largest)


def round_trip(x: torch.Tensor, params: QParams) -> torch.Tensor:
    """Quantize with ``params`` and dequantize: the grid value each number is rounded to."""
    return dequantize(quantize(x, params), params)


def fake_quantize(x: torch.Tensor, bits: int = 8, symmetric: bool = False, axis: int | None = None) -> torch.Tensor:
    """Quantize and dequantize at once: the real number each value is rounded to on the ``bits``-bit grid."""
    return round_trip(x, choose_qparams(x, bits, symmetric, axis))


def levels(params: QParams) -> torch.Tensor:
    """Every real value a per-tensor grid can represent (for drawing it over a histogram)."""
    if params.axis is not None:
        raise ValueError("levels are drawn for per-tensor parameters; pick one channel's scale first")
    return (torch.arange(params.qmin, params.qmax + 1) - params.zero_point).float() * params.scale


def error(x: torch.Tensor, approximation: torch.Tensor) -> dict[str, float]:
    """Mean squared error and signal-to-quantization-noise ratio (dB) of an approximation of ``x``."""
    noise = (x - approximation).float().pow(2).mean()
    signal = x.float().pow(2).mean()
    return {"mse": float(noise), "sqnr_db": float(10 * torch.log10(signal / noise)) if noise > 0 else float("inf")}


def fake_quantize_ste(x: torch.Tensor, bits: int, symmetric: bool = True, axis: int | None = None) -> torch.Tensor:
    """Fake quantization whose gradient passes straight through (the straight-through estimator): the forward
    pass sees the grid, the backward pass treats rounding as the identity."""
    return x + (fake_quantize(x.detach(), bits, symmetric, axis) - x).detach()


class WeightFakeQuantizer(torch.nn.Module):
    """A parametrization (``torch.nn.utils.parametrize``) that shows a layer its weight on a ``bits``-bit grid,
    per output channel, with a straight-through gradient: quantization-aware training."""

    def __init__(self, bits: int, symmetric: bool = True, per_channel: bool = True) -> None:
        super().__init__()
        self.bits, self.symmetric, self.axis = validate_bits(bits), symmetric, 0 if per_channel else None

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return fake_quantize_ste(weight, self.bits, self.symmetric, self.axis)


def _weighted_layers(model: torch.nn.Module) -> list[torch.nn.Module]:
    return list(prunable_layers(model).values())  # the Conv2d and Linear layers, or an error naming the model


def quantize_weights(model: torch.nn.Module, bits: int, symmetric: bool = True,
                     per_channel: bool = True) -> torch.nn.Module:
    """A copy of the model with every Conv2d and Linear weight fake-quantized to ``bits`` (post-training; biases
    and batch norm stay float, as they do in int8 kernels)."""
    validate_bits(bits)
    copy = copy_model(model)
    with torch.no_grad():
        for layer in _weighted_layers(copy):
            layer.weight.copy_(fake_quantize(layer.weight, bits, symmetric, 0 if per_channel else None))
    return copy


def prepare_qat(model: torch.nn.Module, bits: int, symmetric: bool = True, per_channel: bool = True) -> torch.nn.Module:
    """A copy of the model whose Conv2d and Linear weights are fake-quantized in every forward pass (a
    ``torch.nn.utils.parametrize`` parametrization); train it, then :func:`finish_qat`."""
    copy = copy_model(model)
    for layer in _weighted_layers(copy):
        parametrize.register_parametrization(layer, "weight", WeightFakeQuantizer(bits, symmetric, per_channel))
    return copy


def finish_qat(model: torch.nn.Module) -> torch.nn.Module:
    """Remove the parametrizations, keeping the quantized weights (in place)."""
    for layer in _weighted_layers(model):
        if parametrize.is_parametrized(layer, "weight"):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
    return model
