"""1x1, depthwise and depthwise-separable convolutions: their cost formulas and their layers (introduced in 01)."""
from __future__ import annotations

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
