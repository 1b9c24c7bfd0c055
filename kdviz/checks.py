"""Exercise checkers: run the learner's function on small known cases, say what is wrong, give a hint."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torch import nn

from kdviz import measure


@dataclass(frozen=True)
class CheckResult:
    """The verdict of a check; shows as one readable message in a notebook."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("Correct! " if self.passed else "Not yet. ") + self.message

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(repr(self))


def _call(fn: Callable, *args):
    """Call the learner's function; return (value, None) or (None, a failing CheckResult)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, CheckResult(False, "Your function still raises NotImplementedError: replace that line with your code.")
    except Exception as error:  # the learner's code may fail in any way; say how
        return None, CheckResult(False, f"Calling your function with {args} raised {type(error).__name__}: {error}")


CONV_CASES = ((1, 32, 3, True), (32, 64, 3, False), (3, 16, 5, True), (64, 128, 1, False))


def check_conv2d_parameters(fn: Callable[[int, int, int, bool], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, bias)`` counts a Conv2d's parameters."""
    for in_channels, out_channels, kernel_size, bias in CONV_CASES:
        expected = measure.count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias))
        got, failure = _call(fn, in_channels, out_channels, kernel_size, bias)
        if failure is not None:
            return failure
        if got == expected:
            continue
        case = f"in_channels={in_channels}, out_channels={out_channels}, kernel_size={kernel_size}, bias={bias}"
        weights = in_channels * out_channels * kernel_size ** 2
        if bias and got == weights:
            hint = "you counted the weights but not the biases: a layer with bias=True has one bias per output channel."
        elif not bias and got == weights + out_channels:
            hint = "with bias=False the layer has no biases at all."
        elif got - (out_channels if bias else 0) in (in_channels * out_channels * kernel_size,
                                                      in_channels * out_channels):
            hint = "a kernel is square: kernel_size x kernel_size weights per (input, output) channel pair."
        else:
            hint = "every output channel has one kernel_size x kernel_size filter for every input channel."
        return CheckResult(False, f"For {case} your function gives {got}, PyTorch's layer has {expected}. Hint: {hint}")
    return CheckResult(True, f"Your count matches nn.Conv2d on all {len(CONV_CASES)} shapes.")


MAC_CASES = ((1, 32, 3, 28), (32, 64, 3, 14), (16, 16, 1, 7), (3, 8, 5, 32))


def check_conv2d_macs(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, size)`` gives the MACs of a 'same'-padded
    Conv2d (stride 1) on a ``size`` x ``size`` feature map, as torch.utils.flop_counter counts them."""
    for in_channels, out_channels, kernel_size, size in MAC_CASES:
        layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        expected = measure.macs(layer, (1, in_channels, size, size))
        got, failure = _call(fn, in_channels, out_channels, kernel_size, size)
        if failure is not None:
            return failure
        if got == expected:
            continue
        case = f"in_channels={in_channels}, out_channels={out_channels}, kernel_size={kernel_size}, size={size}"
        per_position = in_channels * out_channels * kernel_size ** 2
        if got == per_position:
            hint = "the filters are applied at every one of the size x size output positions."
        elif got == 2 * expected:
            hint = "you counted FLOPs (a multiply and an add); a MAC is one multiply-accumulate, half as many."
        else:
            hint = "each output value needs kernel_size^2 x in_channels MACs, and there are out_channels x size^2 of them."
        return CheckResult(False, f"For {case} your function gives {got}, the flop counter measures {expected}. Hint: {hint}")
    return CheckResult(True, f"Your formula matches torch.utils.flop_counter on all {len(MAC_CASES)} layers.")
