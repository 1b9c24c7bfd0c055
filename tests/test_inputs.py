"""Bad or extreme input to the public functions of distill, quantize, prune and models: a finite, correct value or a
ValueError that names the argument, never nan, a hang or an error from deep inside torch. Each case below was a
silent wrong value or a torch traceback before."""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kdviz import calibration, config, data, distill, models, obd, prune, quantize, train


def test_the_widest_float32_range_quantizes_to_finite_values():
    x = torch.tensor([-3e38, 0.0, 3e38])
    back = quantize.fake_quantize(x, 8)
    assert torch.isfinite(back).all() and torch.allclose(back, x, rtol=0.01)


@pytest.mark.parametrize("low, high", [(float("nan"), 1.0), (0.0, float("inf"))])
def test_a_range_that_is_not_finite_is_named(low, high):
    with pytest.raises(ValueError, match="low and high must be finite"):
        quantize.qparams_from_range(low, high)


@pytest.mark.parametrize("call, words", [
    (lambda: quantize.fake_quantize(torch.ones(3), 8, symmetric="no"), "symmetric must be True or False"),
    (lambda: quantize.fake_quantize(torch.ones(2, 3), 8, axis=1.0), "axis must be a dimension"),
    (lambda: models.build("mlp", hidden=2.5), "hidden must be a positive integer"),
    (lambda: models.build("mlp", hidden=True), "hidden must be a positive integer"),
    (lambda: models.build("mlp", width=8), "mlp takes"),
    (lambda: models.build("teacher", dropout=1.5), "dropout must be a probability"),
    (lambda: config.seed_everything(True), "seed"),
    (lambda: prune.magnitude_mask(torch.tensor([1.0, float("nan")]), 0.5), "weight must be finite"),
    (lambda: prune.magnitude_mask([1.0, 2.0], 0.5), "weight must be a non-empty float tensor"),
    (lambda: calibration.calibrate(torch.ones(3), 8, "percentile", "99"), "percentile must be a number"),
    (lambda: calibration.calibrate([1.0, 2.0], 8), "values must be a non-empty tensor"),
    (lambda: calibration.calibrate(torch.tensor([1.0, float("nan")]), 8, "mse"), "values must be finite"),
])
def test_bad_arguments_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()


IMAGES, LABELS = torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4, dtype=torch.long)


@pytest.mark.parametrize("call, words", [
    (lambda: next(data.batches(IMAGES, LABELS, True)), "batch_size must be a positive integer"),
    (lambda: data.subset(IMAGES, LABELS, True), "size must be a positive integer or None"),
    (lambda: data.subset(IMAGES, LABELS, 2.5), "size must be a positive integer or None"),
    (lambda: train.fit(torch.nn.Linear(784, 10), (IMAGES, LABELS), epochs=True, lr=0.1), "epochs must be a positive"),
    (lambda: obd.hutchinson_diagonal(torch.nn.Linear(784, 10), IMAGES, LABELS, probes=True), "probes must be a positive"),
])
def test_a_boolean_is_not_a_size(call, words):
    with pytest.raises(ValueError, match=words):
        call()


def test_the_loss_at_a_huge_temperature_reaches_its_limit_in_float32():
    generator = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(64, 10, generator=generator), torch.randn(64, 10, generator=generator)
    labels = torch.zeros(64, dtype=torch.long)
    loss = distill.distillation_loss(student, teacher, labels, T=1e5, alpha=1.0)
    reference = distill.distillation_loss(student.double(), teacher.double(), labels, T=1e5, alpha=1.0)
    # the limit of T² KL as T grows: the variance of the centred logit difference over the classes, halved
    difference = (student - teacher).double()
    limit = ((difference - difference.mean(1, keepdim=True)) ** 2).mean(1).mean() / 2
    assert float(loss) == pytest.approx(float(reference), rel=1e-4) == pytest.approx(float(limit), rel=1e-3)


@pytest.mark.parametrize("call, words", [
    (lambda: distill.distillation_loss(torch.full((2, 10), float("nan")), torch.zeros(2, 10),
                                       torch.zeros(2, dtype=torch.long), T=2, alpha=0.5), "student_logits must be finite"),
    (lambda: distill.distillation_loss(torch.zeros(2, 10), torch.zeros(2, 10), [0, 1], T=2, alpha=0.5),
     "labels must be a tensor"),
    (lambda: distill.distillation_loss(torch.zeros(0, 10), torch.zeros(0, 10), torch.zeros(0, dtype=torch.long),
                                       T=2, alpha=0.5), "at least one example"),
    (lambda: distill.class_similarity(torch.zeros(3, 10), torch.tensor([0, 1, 10])), "labels must be in 0..9"),
    (lambda: distill.class_similarity(torch.zeros(3, 10), torch.tensor([0, -1, 2])), "labels must be in 0..9"),
    (lambda: distill.soft_targets(torch.tensor([1, 2, 3]), T=1), "float tensor of logits"),
])
def test_bad_batches_are_named(call, words):
    with pytest.raises(ValueError, match=words):
        call()


EXTREMES = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                     st.sampled_from([0.0, -0.0, 1e-38, -1e-38, 3e38, -3e38, 1e-45]))
SHAPES = st.tuples(st.integers(0, 4), st.integers(0, 6))
ANYTHING = st.one_of(st.none(), st.booleans(), st.text(max_size=3), st.integers(-3, 40),
                     st.floats(allow_nan=True, allow_infinity=True))


def _finite_or_named(call, *names):
    """Run ``call``: its tensors must be finite, or it must raise a ValueError naming one of ``names``."""
    try:
        value = call()
    except ValueError as error:
        assert any(name in str(error) for name in names), str(error)
        return
    for tensor in value if isinstance(value, tuple) else (value,):
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), tensor


@settings(max_examples=150, deadline=None)
@given(shape=SHAPES, values=st.lists(EXTREMES, min_size=1, max_size=24), bits=ANYTHING, symmetric=st.booleans())
def test_fake_quantize_is_finite_or_refuses(shape, values, bits, symmetric):
    count = shape[0] * shape[1]
    x = torch.tensor((values * (count // len(values) + 1))[:count], dtype=torch.float32).reshape(shape)
    _finite_or_named(lambda: quantize.fake_quantize(x, bits, symmetric), "tensor", "bits")


@settings(max_examples=150, deadline=None)
@given(rows=st.integers(0, 5), classes=st.integers(0, 12), scale=EXTREMES, T=ANYTHING, alpha=ANYTHING)
def test_the_distillation_loss_is_finite_or_refuses(rows, classes, scale, T, alpha):
    generator = torch.Generator().manual_seed(rows * 13 + classes)
    student = torch.randn(rows, classes, generator=generator) * scale
    teacher = torch.randn(rows, classes, generator=generator)
    labels = torch.zeros(rows, dtype=torch.long)
    _finite_or_named(lambda: distill.distillation_loss(student, teacher, labels, T, alpha),
                     "student_logits", "teacher_logits", "T (the temperature)", "alpha", "labels")


@settings(max_examples=100, deadline=None)
@given(values=st.lists(EXTREMES, min_size=0, max_size=20), amount=ANYTHING)
def test_the_magnitude_mask_is_a_mask_or_refuses(values, amount):
    weight = torch.tensor(values, dtype=torch.float32)
    try:
        mask = prune.magnitude_mask(weight, amount)
    except ValueError as error:
        assert "weight" in str(error) or "amount" in str(error)
        return
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    assert int((mask == 0).sum()) == round(amount * weight.numel())
    assert not math.isnan(float(mask.sum()))


@settings(max_examples=150, deadline=None)
@given(values=st.lists(EXTREMES, min_size=0, max_size=30), bits=ANYTHING,
       method=st.sampled_from(["minmax", "percentile", "mse", "max", None]), percentile=ANYTHING)
def test_calibration_gives_finite_parameters_or_refuses(values, bits, method, percentile):
    x = torch.tensor(values, dtype=torch.float32)

    def calibrate() -> tuple:
        params = calibration.calibrate(x, bits, method, percentile)
        return torch.tensor([float(params.scale), float(params.zero_point)]), quantize.round_trip(x, params)

    _finite_or_named(calibrate, "values", "bits", "method", "percentile")


@settings(max_examples=60, deadline=None)
@given(amount=ANYTHING, scope=st.sampled_from(["global", "layer", "model", None]), scale=EXTREMES)
def test_pruning_a_model_reaches_the_amount_or_refuses(amount, scope, scale):
    torch.manual_seed(0)
    model = models.build("mlp", hidden=6)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
    try:
        pruned = prune.prune_model(model, amount, scope=scope)
    except ValueError as error:
        assert any(name in str(error) for name in ("amount", "scope", "weight")), str(error)
        return
    assert math.isfinite(scale * 1.0) and all(torch.isfinite(p).all() for p in model.parameters())
    expected = [round(amount * layer.weight.numel()) for layer in models.prunable_layers(model).values()]
    removed = [int((layer.weight_mask == 0).sum()) for layer in models.prunable_layers(pruned).values()]
    if scope == "layer":
        assert removed == expected
    else:
        assert sum(removed) == round(amount * sum(layer.weight.numel() for layer in models.prunable_layers(model).values()))
