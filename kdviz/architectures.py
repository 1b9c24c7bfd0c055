"""1x1, depthwise and depthwise-separable convolutions: their cost formulas and their layers (introduced in 01)."""
from __future__ import annotations

import torch
from torch import nn


def _check(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_kernel(kernel_size: int) -> None:
    _check(kernel_size=kernel_size)
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so that 'same' padding keeps the size, got {kernel_size}")


def standard_cost(in_channels: int, out_channels: int, kernel_size: int, size: int) -> dict[str, int]:
    """Weights and MACs of a standard convolution (no bias, stride 1, 'same' padding): Dk² M N and Dk² M N Df²."""
    _check(in_channels=in_channels, out_channels=out_channels, size=size)
    _check_kernel(kernel_size)
    weights = kernel_size ** 2 * in_channels * out_channels
    return {"parameters": weights, "MACs": weights * size ** 2}


def separable_cost(in_channels: int, out_channels: int, kernel_size: int, size: int) -> dict[str, int]:
    """Depthwise (Dk² M Df²) plus pointwise (M N Df²) MACs, and their weights (MobileNet v1's formulas)."""
    _check(in_channels=in_channels, out_channels=out_channels, size=size)
    _check_kernel(kernel_size)
    depthwise, pointwise = kernel_size ** 2 * in_channels, in_channels * out_channels
    return {"parameters": depthwise + pointwise, "MACs": (depthwise + pointwise) * size ** 2}


def bottleneck_cost(in_channels: int, out_channels: int, kernel_size: int, size: int,
                    squeeze: int) -> dict[str, int]:
    """A 1x1 squeeze to ``squeeze`` channels, then the Dk x Dk convolution from there (SqueezeNet's idea)."""
    _check(squeeze=squeeze)
    first = standard_cost(in_channels, squeeze, 1, size)
    second = standard_cost(squeeze, out_channels, kernel_size, size)
    return {key: first[key] + second[key] for key in first}


def fire_cost(in_channels: int, out_channels: int, kernel_size: int, size: int, squeeze: int) -> dict[str, int]:
    """A SqueezeNet fire module: a 1x1 squeeze to ``squeeze`` channels, then half the outputs from 1x1 filters
    and half from Dk x Dk ones, concatenated."""
    _check_fire(out_channels)
    wide, narrow = out_channels - out_channels // 2, out_channels // 2
    parts = (standard_cost(in_channels, squeeze, 1, size), standard_cost(squeeze, narrow, 1, size),
             standard_cost(squeeze, wide, kernel_size, size))
    return {key: sum(part[key] for part in parts) for key in parts[0]}


def _check_fire(out_channels: int) -> None:
    _check(out_channels=out_channels)
    if out_channels < 2:
        raise ValueError(f"out_channels must be at least 2 for a fire module (half 1x1, half Dk x Dk), got {out_channels}")


def compare_costs(in_channels: int, out_channels: int, kernel_size: int, size: int,
                  squeeze: int) -> dict[str, dict[str, int]]:
    """Parameters and MACs of the four ways to map M to N channels on a Df x Df map (the explorer of 01)."""
    return {
        "standard": standard_cost(in_channels, out_channels, kernel_size, size),
        "depthwise-separable": separable_cost(in_channels, out_channels, kernel_size, size),
        "1x1 bottleneck": bottleneck_cost(in_channels, out_channels, kernel_size, size, squeeze),
        "fire module": fire_cost(in_channels, out_channels, kernel_size, size, squeeze),
    }


def separable_ratio(out_channels: int, kernel_size: int) -> float:
    """Separable / standard MACs = 1/N + 1/Dk² (independent of the input channels and the map size)."""
    _check(out_channels=out_channels)
    _check_kernel(kernel_size)
    return 1 / out_channels + 1 / kernel_size ** 2


def standard_conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Conv2d:
    """A standard 'same' convolution without bias (batch norm follows it in the zoo)."""
    _check(in_channels=in_channels, out_channels=out_channels)
    _check_kernel(kernel_size)
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)


def separable_conv(in_channels: int, out_channels: int, kernel_size: int = 3) -> nn.Sequential:
    """Depthwise (one Dk x Dk filter per input channel, ``groups=in_channels``), then a pointwise 1x1 mix."""
    _check(in_channels=in_channels, out_channels=out_channels)
    _check_kernel(kernel_size)
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, kernel_size, padding=kernel_size // 2, groups=in_channels, bias=False),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
    )


def bottleneck_conv(in_channels: int, out_channels: int, kernel_size: int = 3, squeeze: int = 8) -> nn.Sequential:
    """A 1x1 squeeze to ``squeeze`` channels, then a standard Dk x Dk convolution to ``out_channels``."""
    _check(squeeze=squeeze)
    return nn.Sequential(standard_conv(in_channels, squeeze, 1), standard_conv(squeeze, out_channels, kernel_size))


class Fire(nn.Module):
    """SqueezeNet's fire module: squeeze with 1x1 filters (then batch norm and ReLU), expand with 1x1 and Dk x Dk
    filters side by side, and concatenate their channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, squeeze: int = 8) -> None:
        super().__init__()
        _check(in_channels=in_channels, squeeze=squeeze)
        _check_fire(out_channels)
        _check_kernel(kernel_size)
        self.squeeze = nn.Sequential(standard_conv(in_channels, squeeze, 1), nn.BatchNorm2d(squeeze), nn.ReLU())
        self.expand_1x1 = standard_conv(squeeze, out_channels // 2, 1)
        self.expand_kxk = standard_conv(squeeze, out_channels - out_channels // 2, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.squeeze(x)  # (B, squeeze, H, W)
        return torch.cat([self.expand_1x1(squeezed), self.expand_kxk(squeezed)], dim=1)  # (B, out_channels, H, W)


def fire_conv(in_channels: int, out_channels: int, kernel_size: int = 3, squeeze: int | None = None) -> Fire:
    """A fire module; ``squeeze`` defaults to a quarter of the output channels (at least 1)."""
    return Fire(in_channels, out_channels, kernel_size, squeeze or max(out_channels // 4, 1))
