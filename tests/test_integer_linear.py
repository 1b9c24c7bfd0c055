"""The integer-only linear layer against PyTorch's quantized kernel and against float arithmetic."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from kdviz import integer_linear, quantize


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-9, max_value=1 - 1e-12, allow_nan=False))
def test_the_fixed_point_multiplier_holds_the_real_one_to_31_bits(real):
    m0, shift = integer_linear.fixed_point_multiplier(real)
    assert 2 ** 30 <= m0 < 2 ** 31 and shift >= 0
    assert m0 * 2.0 ** -(31 + shift) == pytest.approx(real, rel=2 ** -30)


@pytest.mark.parametrize("real", [0, 1, 1.5, -0.25, float("nan"), True, "0.5"])
def test_a_multiplier_outside_zero_to_one_is_named(real):
    with pytest.raises(ValueError, match="real must be a number strictly between 0 and 1"):
        integer_linear.fixed_point_multiplier(real)


def test_the_rounding_shift_rounds_to_nearest_like_python_integers():
    values = torch.arange(-1000, 1001, dtype=torch.int64)
    for shift in (1, 3, 7):
        expected = [math.floor(v / 2 ** shift + 0.5) for v in values.tolist()]
        assert integer_linear.rounding_right_shift(values, shift).tolist() == expected
    with pytest.raises(ValueError, match="values must be an integer tensor"):
        integer_linear.rounding_right_shift(values.double(), 2)
    with pytest.raises(ValueError, match="shift must be a positive integer"):
        integer_linear.rounding_right_shift(values, 0)


def _layer_and_grids(seed: int, in_features: int = 64, out_features: int = 10):
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(in_features, out_features)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=generator) * 0.1)
        layer.bias.copy_(torch.randn(out_features, generator=generator))
    inputs = torch.relu(torch.randn(256, in_features, generator=generator) * 2)
    outputs = layer(inputs).detach()
    input_params, output_params = quantize.choose_qparams(inputs, 8), quantize.choose_qparams(outputs, 8)
    codes = quantize.quantize(inputs, input_params).to(torch.uint8)
    return layer, inputs, outputs, input_params, output_params, codes


@pytest.mark.parametrize("seed", range(5))
def test_the_integer_layer_gives_pytorchs_quantized_kernel_codes(seed):
    layer, _, _, input_params, output_params, codes = _layer_and_grids(seed)
    mine = integer_linear.from_float(layer, input_params, output_params)(codes)
    theirs = integer_linear.pytorch_linear(layer, codes, input_params, output_params)
    assert mine.dtype == theirs.dtype == torch.uint8
    assert (mine.int() - theirs.int()).abs().max() <= 1  # a tie may round either way
    assert (mine == theirs).float().mean() > 0.99


@pytest.mark.parametrize("seed", range(5))
def test_the_integer_layer_is_the_float_formula_rounded(seed):
    layer, _, _, input_params, output_params, codes = _layer_and_grids(seed)
    integer = integer_linear.from_float(layer, input_params, output_params)
    # the same arithmetic in float64: the accumulator times the real multiplier, rounded onto the output grid
    accumulator = (codes.double() - integer.input_zero_point) @ integer.weight.double().T + integer.bias.double()
    real = float(input_params.scale) * float(integer_linear.weight_params(layer).scale) / float(output_params.scale)
    expected = torch.clamp(torch.floor(accumulator * real + 0.5) + integer.output_zero_point, 0, 255)
    assert (integer(codes).double() - expected).abs().max() <= 1
    assert (integer(codes).double() == expected).float().mean() > 0.99


def test_the_integer_layer_stays_within_a_few_steps_of_the_float_layer():
    layer, _, outputs, input_params, output_params, codes = _layer_and_grids(0)
    back = quantize.dequantize(integer_linear.from_float(layer, input_params, output_params)(codes).long(),
                               output_params)
    assert ((back - outputs).abs() / output_params.scale).max() < 3


def test_bad_inputs_are_named():
    layer, inputs, _, input_params, output_params, codes = _layer_and_grids(0)
    integer = integer_linear.from_float(layer, input_params, output_params)
    with pytest.raises(ValueError, match="codes must be a uint8 tensor of shape"):
        integer(inputs)
    with pytest.raises(ValueError, match="layer must be a torch.nn.Linear"):
        integer_linear.from_float(nn.Conv2d(1, 1, 1), input_params, output_params)
    with pytest.raises(ValueError, match="input_params must be one uint8 grid"):
        integer_linear.from_float(layer, quantize.choose_qparams(inputs, 8, symmetric=True), output_params)
