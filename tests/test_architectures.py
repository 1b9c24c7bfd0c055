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
    if out_channels >= 2:
        fire = arch.fire_conv(in_channels, out_channels, kernel_size, squeeze=4)
        measured = _measured(fire, in_channels, size)
        measured["parameters"] -= 2 * 4  # the squeeze's batch norm: the formula counts convolution weights
        assert arch.fire_cost(in_channels, out_channels, kernel_size, size, squeeze=4) == measured


@pytest.mark.parametrize("in_channels, out_channels, kernel_size, size", SHAPES)
def test_separable_ratio_is_one_over_n_plus_one_over_k_squared(in_channels, out_channels, kernel_size, size):
    standard = arch.standard_cost(in_channels, out_channels, kernel_size, size)["MACs"]
    separable = arch.separable_cost(in_channels, out_channels, kernel_size, size)["MACs"]
    assert separable / standard == pytest.approx(arch.separable_ratio(out_channels, kernel_size))


def test_layers_keep_the_feature_map_size():
    x = torch.zeros(2, 8, 14, 14)
    for layer in (arch.standard_conv(8, 16, 5), arch.separable_conv(8, 16, 5), arch.bottleneck_conv(8, 16, 5, 4),
                  arch.fire_conv(8, 16, 5)):
        assert layer(x).shape == (2, 16, 14, 14)
    assert arch.fire_conv(8, 15, 3, 2)(x).shape == (2, 15, 14, 14)  # an odd width: one more Dk x Dk filter


@pytest.mark.parametrize("call, message", [
    (lambda: arch.standard_cost(0, 8, 3, 10), "in_channels must be a positive integer"),
    (lambda: arch.separable_cost(8, -1, 3, 10), "out_channels must be a positive integer"),
    (lambda: arch.separable_conv(8, 8, 4), "kernel_size must be odd"),
    (lambda: arch.bottleneck_cost(8, 8, 3, 10, squeeze=0), "squeeze must be a positive integer"),
    (lambda: arch.standard_cost(8, 8, 3, 2.5), "size must be a positive integer"),
    (lambda: arch.fire_cost(8, 1, 3, 10, squeeze=2), "out_channels must be at least 2"),
    (lambda: arch.fire_conv(8, 16, 2), "kernel_size must be odd"),
    (lambda: arch.compare_costs(8, 16, 3, 0, 4), "size must be a positive integer"),
])
def test_bad_sizes_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_fire_module_concatenates_its_two_expand_paths():
    fire = arch.fire_conv(4, 6, 3, squeeze=2).eval()
    x = torch.randn(1, 4, 5, 5)
    squeezed = fire.squeeze(x)
    output = fire(x)
    assert torch.equal(output[:, :3], fire.expand_1x1(squeezed)) and torch.equal(output[:, 3:], fire.expand_kxk(squeezed))
    assert fire.squeeze[0].out_channels == 2 and arch.fire_conv(4, 16).squeeze[0].out_channels == 4


def test_compare_costs_lists_the_four_layers_against_their_own_formulas():
    costs = arch.compare_costs(32, 64, 3, 14, 8)
    assert list(costs) == ["standard", "depthwise-separable", "1x1 bottleneck", "fire module"]
    assert costs["depthwise-separable"] == arch.separable_cost(32, 64, 3, 14)
    assert costs["fire module"] == arch.fire_cost(32, 64, 3, 14, 8)
    assert costs["standard"]["MACs"] > costs["fire module"]["MACs"] > costs["depthwise-separable"]["MACs"]
