"""kdviz.checks: a right answer passes, each typical mistake fails with its own hint."""
from __future__ import annotations

import pytest

from kdviz import checks, config, distill
from solutions import exercises


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


def test_soft_targets_check():
    import torch

    assert checks.check_soft_targets(lambda z, T: torch.softmax(z / T, -1))
    assert "divide the logits by T before" in repr(checks.check_soft_targets(lambda z, T: torch.softmax(z, -1)))
    assert "sharper" in repr(checks.check_soft_targets(lambda z, T: torch.softmax(z * T, -1)))
    assert "normalise" in repr(checks.check_soft_targets(lambda z, T: torch.exp(z / T)))
    assert "not log-probabilities" in repr(checks.check_soft_targets(lambda z, T: torch.log_softmax(z / T, -1)))
    assert "torch.Tensor" in repr(checks.check_soft_targets(lambda z, T: z.tolist()))


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")
def test_distillation_loss_check():
    from torch.nn import functional as F

    def kl(s, t, T):
        return F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="batchmean")

    assert checks.check_distillation_loss(distill.distillation_loss)
    assert checks.check_distillation_loss(
        lambda s, t, y, T, a: a * T * T * kl(s, t, T) + (1 - a) * F.cross_entropy(s, y))
    no_t2 = checks.check_distillation_loss(lambda s, t, y, T, a: a * kl(s, t, T) + (1 - a) * F.cross_entropy(s, y))
    assert "T²" in repr(no_t2) and not no_t2
    swapped = checks.check_distillation_loss(
        lambda s, t, y, T, a: (1 - a) * T * T * kl(s, t, T) + a * F.cross_entropy(s, y))
    assert "swapped" in repr(swapped)
    mean = checks.check_distillation_loss(
        lambda s, t, y, T, a: a * T * T * F.kl_div(F.log_softmax(s / T, -1), F.softmax(t / T, -1), reduction="mean")
        + (1 - a) * F.cross_entropy(s, y))
    assert "batchmean" in repr(mean)
    assert "one number" in repr(checks.check_distillation_loss(lambda s, t, y, T, a: s))


def right_separable_macs(i, o, k, size):
    return (k * k * i + i * o) * size * size


def test_separable_macs_check():
    assert checks.check_separable_macs(right_separable_macs)
    assert "depthwise part only" in repr(checks.check_separable_macs(lambda i, o, k, s: k * k * i * s * s))
    assert "pointwise part only" in repr(checks.check_separable_macs(lambda i, o, k, s: i * o * s * s))
    assert "standard convolution" in repr(checks.check_separable_macs(right_macs))
    assert "without N" in repr(checks.check_separable_macs(lambda i, o, k, s: right_macs(i, o, k, s) + i * o * s * s))


def test_separable_block_check():
    from torch import nn

    def right(i, o, k):
        return nn.Sequential(nn.Conv2d(i, i, k, padding=k // 2, groups=i, bias=False), nn.Conv2d(i, o, 1, bias=False))

    assert checks.check_separable_block(right)
    no_groups = checks.check_separable_block(
        lambda i, o, k: nn.Sequential(nn.Conv2d(i, i, k, padding=k // 2, bias=False), nn.Conv2d(i, o, 1, bias=False)))
    assert not no_groups and "groups=in_channels" in repr(no_groups)
    with_bias = checks.check_separable_block(
        lambda i, o, k: nn.Sequential(nn.Conv2d(i, i, k, padding=k // 2, groups=i), nn.Conv2d(i, o, 1)))
    assert "bias=False" in repr(with_bias)
    no_padding = checks.check_separable_block(
        lambda i, o, k: nn.Sequential(nn.Conv2d(i, i, k, groups=i, bias=False), nn.Conv2d(i, o, 1, bias=False)))
    assert "kernel_size // 2" in repr(no_padding)
    assert "return an nn.Module" in repr(checks.check_separable_block(lambda i, o, k: 42))
    assert "NotImplementedError" in repr(checks.check_separable_block(lambda i, o, k: (_ for _ in ()).throw(NotImplementedError)))


def test_magnitude_mask_check():
    import torch

    def right(weight, amount):
        mask = torch.ones_like(weight)
        count = round(amount * weight.numel())
        if count:
            mask.view(-1)[weight.abs().flatten().topk(count, largest=False).indices] = 0
        return mask

    assert checks.check_magnitude_mask(right)
    assert "inverted" in repr(checks.check_magnitude_mask(lambda w, a: 1 - right(w, a)))
    assert "not by the signed value" in repr(checks.check_magnitude_mask(_signed))
    assert "remove round" in repr(checks.check_magnitude_mask(lambda w, a: right(w, a / 2)))
    assert "shape" in repr(checks.check_magnitude_mask(lambda w, a: right(w, a).flatten()))


def _signed(weight, amount):
    import torch

    mask = torch.ones_like(weight)
    count = round(amount * weight.numel())
    mask.view(-1)[weight.flatten().topk(count, largest=False).indices] = 0
    return mask


def test_obd_saliency_check():
    assert checks.check_obd_saliency(lambda w, h: h * w ** 2 / 2)
    assert "divide by 2" in repr(checks.check_obd_saliency(lambda w, h: h * w ** 2))
    assert "square the weight" in repr(checks.check_obd_saliency(lambda w, h: h * w.abs() / 2))
    assert "curvature" in repr(checks.check_obd_saliency(lambda w, h: w ** 2 / 2))
    assert "entry by entry" in repr(checks.check_obd_saliency(lambda w, h: (h * w ** 2 / 2).sum()))


def test_quantize_check():
    import torch

    assert checks.check_quantize(lambda x, s, z, lo, hi: torch.clamp(torch.round(x / s) + z, lo, hi))
    assert "clamp" in repr(checks.check_quantize(lambda x, s, z, lo, hi: torch.round(x / s) + z))
    assert "round to the nearest" in repr(checks.check_quantize(lambda x, s, z, lo, hi: torch.clamp(torch.trunc(x / s) + z, lo, hi)))
    assert "zero point" in repr(checks.check_quantize(lambda x, s, z, lo, hi: torch.clamp(torch.round(x / s), lo, hi)))
    assert "divide by the scale" in repr(checks.check_quantize(lambda x, s, z, lo, hi: torch.clamp(torch.round(x * s) + z, lo, hi)))


def test_scale_check():
    def right(x, bits):
        low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
        scale = (high - low) / (2 ** bits - 1)
        return scale, min(max(round(-low / scale), 0), 2 ** bits - 1)

    assert checks.check_scale(right)
    def not_widened(x, bits):
        low, high = float(x.min()), float(x.max())
        scale = (high - low) / (2 ** bits - 1)
        return scale, min(max(round(-low / scale), 0), 2 ** bits - 1)

    assert "include 0" in repr(checks.check_scale(not_widened))
    assert "steps between" in repr(checks.check_scale(lambda x, b: (right(x, b)[0] * (2 ** b - 1) / 2 ** b, right(x, b)[1])))
    assert "zero point is the code of 0" in repr(checks.check_scale(lambda x, b: (right(x, b)[0], right(x, b)[1] + 1)))
    assert "Return a pair" in repr(checks.check_scale(lambda x, b: 0.5))


def test_check_pareto_front_accepts_the_front_and_explains_mistakes():
    right = exercises.my_pareto_front

    assert checks.check_pareto_front(right)
    everything = checks.check_pareto_front(lambda points: list(range(len(points))))
    assert not everything and "is beaten by another point" in everything.message
    reversed_ = checks.check_pareto_front(lambda points: right(points)[::-1])
    assert not reversed_ and "wrong order" in reversed_.message
    missing = checks.check_pareto_front(lambda points: right(points)[1:])
    assert not missing and "is missing" in missing.message


def test_check_fgsm_step_names_each_mistake():
    assert checks.check_fgsm_step(lambda x, g, e: (x + e * g.sign()).clamp(0, 1))
    for wrong, words in ((lambda x, g, e: x + e * g.sign(), "clamp"),
                         (lambda x, g, e: (x + e * g).clamp(0, 1), "sign of the gradient"),
                         (lambda x, g, e: (x - e * g.sign()).clamp(0, 1), "step *up*")):
        result = checks.check_fgsm_step(wrong)
        assert not result and words in result.message


def test_a_claim_prints_its_verdict(capsys):
    checks.claim("two is more than one", 2 > 1)
    checks.claim("one is more than two", 1 > 2)
    assert capsys.readouterr().out == "holds: two is more than one\nDOES NOT HOLD: one is more than two\n"


def test_a_claim_prints_its_measured_values_in_brackets(capsys):
    checks.claim("the student is smaller", True, "120 kB against 3.5 MB")
    assert capsys.readouterr().out == "holds: the student is smaller [measured: 120 kB against 3.5 MB]\n"


def test_a_full_profile_claim_is_judged_only_in_the_full_profile_and_says_why_not_elsewhere(capsys):
    checks.full_profile_claim("distillation wins", False, "+0.1 points", config.get_profile("full"))
    checks.full_profile_claim("distillation wins", False, "+0.1 points", config.get_profile("quick"), "one epoch")
    full, quick = capsys.readouterr().out.splitlines()
    assert full == "DOES NOT HOLD: distillation wins (full profile) [measured: +0.1 points]"
    assert quick == "not claimed in the quick profile (one epoch): distillation wins [measured: +0.1 points]"
