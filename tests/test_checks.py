"""kdviz.checks: a right answer passes, each typical mistake fails with its own hint."""
from __future__ import annotations

from kdviz import checks


def right_parameters(i, o, k, bias):
    return i * o * k * k + (o if bias else 0)


def right_macs(i, o, k, size):
    return i * o * k * k * size * size


def test_conv2d_parameters_check():
    assert checks.check_conv2d_parameters(right_parameters)
    assert "one bias per output channel" in repr(checks.check_conv2d_parameters(lambda i, o, k, b: i * o * k * k))
    assert "kernel is square" in repr(checks.check_conv2d_parameters(lambda i, o, k, b: i * o * k + (o if b else 0)))
    assert "no biases" in repr(checks.check_conv2d_parameters(lambda i, o, k, b: i * o * k * k + o))


def test_conv2d_macs_check():
    assert checks.check_conv2d_macs(right_macs)
    assert "output positions" in repr(checks.check_conv2d_macs(lambda i, o, k, s: i * o * k * k))
    assert "half as many" in repr(checks.check_conv2d_macs(lambda i, o, k, s: 2 * right_macs(i, o, k, s)))


def test_unfinished_and_crashing_functions_get_advice_not_tracebacks():
    def unfinished(*args):
        raise NotImplementedError

    result = checks.check_conv2d_macs(unfinished)
    assert not result and "NotImplementedError" in repr(result) and repr(result).startswith("Not yet.")
    result = checks.check_conv2d_parameters(lambda *args: 1 / 0)
    assert not result and "ZeroDivisionError" in repr(result)
