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


def _compare(fn: Callable, cases: list[dict], reference: Callable[..., int], source: str,
             hint: Callable[..., str]) -> CheckResult | None:
    """Run ``fn`` on each case (keyword arguments); the first mismatch with ``reference`` fails with a hint."""
    for case in cases:
        expected = reference(**case)
        got, failure = _call(fn, *case.values())
        if failure is not None:
            return failure
        if got != expected:
            described = ", ".join(f"{key}={value}" for key, value in case.items())
            return CheckResult(False, f"For {described} your function gives {got}, {source} {expected}. "
                                      f"Hint: {hint(got=got, expected=expected, **case)}")
    return None


CONV_CASES = [dict(in_channels=1, out_channels=32, kernel_size=3, bias=True),
              dict(in_channels=32, out_channels=64, kernel_size=3, bias=False),
              dict(in_channels=3, out_channels=16, kernel_size=5, bias=True),
              dict(in_channels=64, out_channels=128, kernel_size=1, bias=False)]


def _conv2d_parameters(in_channels: int, out_channels: int, kernel_size: int, bias: bool) -> int:
    return measure.count_parameters(nn.Conv2d(in_channels, out_channels, kernel_size, bias=bias))


def _conv2d_parameters_hint(got, expected, in_channels, out_channels, kernel_size, bias) -> str:
    weights = in_channels * out_channels * kernel_size ** 2
    if bias and got == weights:
        return "you counted the weights but not the biases: a layer with bias=True has one bias per output channel."
    if not bias and got == weights + out_channels:
        return "with bias=False the layer has no biases at all."
    if got - (out_channels if bias else 0) in (in_channels * out_channels * kernel_size, in_channels * out_channels):
        return "a kernel is square: kernel_size x kernel_size weights per (input, output) channel pair."
    return "every output channel has one kernel_size x kernel_size filter for every input channel."


def check_conv2d_parameters(fn: Callable[[int, int, int, bool], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, bias)`` counts a Conv2d's parameters."""
    failure = _compare(fn, CONV_CASES, _conv2d_parameters, "PyTorch's layer has", _conv2d_parameters_hint)
    if failure is not None:
        return failure
    return CheckResult(True, f"Your count matches nn.Conv2d on all {len(CONV_CASES)} shapes.")


MAC_CASES = [dict(in_channels=1, out_channels=32, kernel_size=3, size=28),
             dict(in_channels=32, out_channels=64, kernel_size=3, size=14),
             dict(in_channels=16, out_channels=16, kernel_size=1, size=7),
             dict(in_channels=3, out_channels=8, kernel_size=5, size=32)]


def _conv2d_macs(in_channels: int, out_channels: int, kernel_size: int, size: int) -> int:
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
    return measure.macs(layer, (1, in_channels, size, size))


def _conv2d_macs_hint(got, expected, in_channels, out_channels, kernel_size, size) -> str:
    if got == in_channels * out_channels * kernel_size ** 2:
        return "the filters are applied at every one of the size x size output positions."
    if got == 2 * expected:
        return "you counted FLOPs (a multiply and an add); a MAC is one multiply-accumulate, half as many."
    return "each output value needs kernel_size^2 x in_channels MACs, and there are out_channels x size^2 of them."


def check_conv2d_macs(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Notebook 00: ``fn(in_channels, out_channels, kernel_size, size)`` gives the MACs of a 'same'-padded
    Conv2d (stride 1) on a ``size`` x ``size`` feature map, as torch.utils.flop_counter counts them."""
    failure = _compare(fn, MAC_CASES, _conv2d_macs, "the flop counter measures", _conv2d_macs_hint)
    if failure is not None:
        return failure
    return CheckResult(True, f"Your formula matches torch.utils.flop_counter on all {len(MAC_CASES)} layers.")
