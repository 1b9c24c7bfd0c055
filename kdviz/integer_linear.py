"""A linear layer in integer arithmetic only, as int8 inference engines run it (Jacob et al. 2018; introduced in
03): uint8 inputs times int8 weights, summed in int32 with an int32 bias, then brought to the output's uint8 grid
by a fixed-point multiplier and a right shift. No floating point is used at run time: the float scales are folded
into one integer multiplier when the layer is built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from kdviz import int8, quantize

FRACTION_BITS = 31  # the multiplier is an int32 in [2^30, 2^31): a fraction in [0.5, 1) with 31 bits after the point


def fixed_point_multiplier(real: float) -> tuple[int, int]:
    """``real`` (0 < real < 1) as an integer ``m0`` in [2^30, 2^31) and a right shift ``n`` >= 0 with
    real ≈ m0 · 2^-(31 + n); the relative error is below 2^-31."""
    if isinstance(real, bool) or not isinstance(real, (int, float)) or not 0 < real < 1:
        raise ValueError(f"real must be a number strictly between 0 and 1, got {real!r}")
    mantissa, exponent = math.frexp(real)  # real = mantissa · 2^exponent, mantissa in [0.5, 1), exponent <= 0
    m0 = round(mantissa * 2 ** FRACTION_BITS)
    if m0 == 2 ** FRACTION_BITS:  # the mantissa rounded up to 1: keep m0 an int32 (an error below 2^-31)
        m0 -= 1
    return m0, -exponent


def rounding_right_shift(values: torch.Tensor, shift: int) -> torch.Tensor:
    """Integer ``values`` divided by 2^shift, rounded to the nearest integer (halves upwards), in integers only."""
    if values.is_floating_point():
        raise ValueError(f"values must be an integer tensor, got {values.dtype}")
    if isinstance(shift, bool) or not isinstance(shift, int) or shift < 1:
        raise ValueError(f"shift must be a positive integer, got {shift!r}")
    return (values + (1 << (shift - 1))) >> shift


@dataclass(frozen=True)
class IntegerLinear:
    """What an integer-only linear layer stores: int8 weight codes (zero point 0), an int32 bias on the
    accumulator's scale, the zero points of its uint8 input and output, and the requantizing multiplier."""

    weight: torch.Tensor  # int8 codes, (out_features, in_features)
    bias: torch.Tensor  # int32, (out_features,): round(bias / (input scale · weight scale))
    input_zero_point: int
    output_zero_point: int
    multiplier: int  # m0 of fixed_point_multiplier(input scale · weight scale / output scale)
    shift: int

    def __call__(self, codes: torch.Tensor) -> torch.Tensor:
        """uint8 output codes for uint8 input codes (batch, in_features)."""
        if codes.dtype != torch.uint8 or codes.dim() != 2 or codes.shape[1] != self.weight.shape[1]:
            raise ValueError(f"codes must be a uint8 tensor of shape (batch, {self.weight.shape[1]}), "
                             f"got {codes.dtype} {tuple(codes.shape)}")
        accumulator = (codes.to(torch.int32) - self.input_zero_point) @ self.weight.to(torch.int32).T + self.bias
        scaled = rounding_right_shift(accumulator.to(torch.int64) * self.multiplier, FRACTION_BITS + self.shift)
        return (scaled + self.output_zero_point).clamp(0, 255).to(torch.uint8)


def weight_params(layer: nn.Linear, per_channel: bool = False) -> quantize.QParams:
    """The layer's weights on a symmetric int8 grid: one scale for the tensor, or one per output channel."""
    return quantize.choose_qparams(layer.weight.detach(), 8, symmetric=True, axis=0 if per_channel else None)


def from_float(layer: nn.Linear, input_params: quantize.QParams, output_params: quantize.QParams) -> IntegerLinear:
    """The integer-only version of a float ``nn.Linear`` whose inputs and outputs are on the given per-tensor uint8
    grids (``quantize.choose_qparams(..., 8)`` of calibration data)."""
    if not isinstance(layer, nn.Linear):
        raise ValueError(f"layer must be a torch.nn.Linear, got {type(layer).__name__}")
    for name, params in (("input_params", input_params), ("output_params", output_params)):
        if (params.qmin, params.qmax) != (0, 255) or params.scale.numel() != 1:
            raise ValueError(f"{name} must be one uint8 grid for the whole tensor (qmin 0, qmax 255), got "
                             f"qmin {params.qmin}, qmax {params.qmax}, {params.scale.numel()} scales")
    weights = weight_params(layer)
    input_scale, weight_scale, output_scale = (float(p.scale) for p in (input_params, weights, output_params))
    bias = layer.bias.detach() if layer.bias is not None else torch.zeros(layer.out_features)
    multiplier, shift = fixed_point_multiplier(input_scale * weight_scale / output_scale)
    return IntegerLinear(weight=quantize.quantize(layer.weight.detach(), weights).to(torch.int8),
                         bias=torch.round(bias.double() / (input_scale * weight_scale)).to(torch.int32),
                         input_zero_point=int(input_params.zero_point), output_zero_point=int(output_params.zero_point),
                         multiplier=multiplier, shift=shift)


def pytorch_linear(layer: nn.Linear, codes: torch.Tensor, input_params: quantize.QParams,
                   output_params: quantize.QParams, per_channel: bool = False) -> torch.Tensor:
    """The same layer on PyTorch's own quantized CPU kernel (``torch.ops.quantized.linear``), with the same grids
    (the weights' one per output channel if ``per_channel``): its uint8 output codes."""
    weights = weight_params(layer, per_channel)
    real_input = (codes.to(torch.float64) - int(input_params.zero_point)) * float(input_params.scale)
    with int8.quiet_deprecations():
        q_input = torch.quantize_per_tensor(real_input.float(), float(input_params.scale),
                                            int(input_params.zero_point), torch.quint8)  # the same codes
        q_weight = (torch.quantize_per_channel(layer.weight.detach(), weights.scale.double(), weights.zero_point, 0,
                                               torch.qint8) if per_channel else
                    torch.quantize_per_tensor(layer.weight.detach(), float(weights.scale), 0, torch.qint8))
        packed = torch.ops.quantized.linear_prepack(q_weight, layer.bias.detach() if layer.bias is not None else None)
        output = torch.ops.quantized.linear(q_input, packed, float(output_params.scale),
                                            int(output_params.zero_point))
    return output.int_repr()
