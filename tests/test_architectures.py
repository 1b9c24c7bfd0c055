"""kdviz.architectures: the cost formulas against counts taken from real layers."""
from __future__ import annotations

import pytest
import torch

from kdviz import architectures as arch
from kdviz import measure

SHAPES = [(1, 32, 3, 28), (32, 64, 3, 14), (64, 128, 5, 7), (3, 16, 1, 32), (16, 16, 7, 10)]


def _measured(layer, in_channels: int, size: int) -> dict[str, int]:
    return {"parameters": measure.count_parameters(layer), "MACs": measure.macs(layer, (1, in_channels, size, size))}


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, size", SHAPES)
def test_formulas_match_real_layers(in_channels, out_channels, kernel_size, size):
    assert arch.standard_cost(in_channels, out_channels, kernel_size, size) == _measured(
        arch.standard_conv(in_channels, out_channels, kernel_size), in_channels, size)
    assert arch.separable_cost(in_channels, out_channels, kernel_size, size) == _measured(
        arch.separable_conv(in_channels, out_channels, kernel_size), in_channels, size)
    assert arch.bottleneck_cost(in_channels, out_channels, kernel_size, size, squeeze=8) == _measured(
        arch.bottleneck_conv(in_channels, out_channels, kernel_size, squeeze=8), in_channels, size)


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, size", SHAPES)
def test_separable_ratio_is_one_over_n_plus_one_over_k_squared(in_channels, out_channels, kernel_size, size):
    standard = arch.standard_cost(in_channels, out_channels, kernel_size, size)["MACs"]
    separable = arch.separable_cost(in_channels, out_channels, kernel_size, size)["MACs"]
    assert separable / standard == pytest.approx(arch.separable_ratio(out_channels, kernel_size))


def test_layers_keep_the_feature_map_size():
    x = torch.zeros(2, 8, 14, 14)
    for layer in (arch.standard_conv(8, 16, 5), arch.separable_conv(8, 16, 5), arch.bottleneck_conv(8, 16, 5, 4)):
        assert layer(x).shape == (2, 16, 14, 14)


@pytest.mark.parametrize("call, message", [
    (lambda: arch.standard_cost(0, 8, 3, 10), "in_channels must be a positive integer"),
    (lambda: arch.separable_cost(8, -1, 3, 10), "out_channels must be a positive integer"),
    (lambda: arch.separable_conv(8, 8, 4), "kernel_size must be odd"),
    (lambda: arch.bottleneck_cost(8, 8, 3, 10, squeeze=0), "squeeze must be a positive integer"),
    (lambda: arch.standard_cost(8, 8, 3, 2.5), "size must be a positive integer"),
])
def test_bad_sizes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
