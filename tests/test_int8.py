"""kdviz.int8: PyTorch's int8 CPU kernels on the teacher: outputs close to float, smaller files, no warnings."""
from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from conftest import small_trained_teacher
from kdviz import int8, measure, models, train


@pytest.fixture(scope="module")
def trained():
    return small_trained_teacher()


def test_fusion_groups_find_conv_bn_relu_and_linear_relu():
    groups = int8.fusion_groups(models.build("teacher"))
    assert groups[0] == ["model.0", "model.1", "model.2"] and ["model.16", "model.17"] in groups
    assert len(groups) == 5
    with pytest.raises(ValueError, match="nn.Sequential"):
        int8.fusion_groups(nn.Linear(2, 2))


def test_static_int8_is_close_to_float_smaller_and_quiet(trained):
    model, images, labels = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no deprecation wall in front of learners
        quantized = int8.static_int8(model, images[:200])
        x = torch.randn(4, 1, 28, 28)
        with torch.no_grad():
            reference, got = model(x), quantized(x)
    assert ".quantized." in type(quantized.model[0]).__module__  # an int8 kernel, not a float layer
    assert (got - reference).abs().max() < 0.1 * reference.abs().max() + 0.05
    assert train.evaluate(quantized, images, labels).accuracy == pytest.approx(
        train.evaluate(model, images, labels).accuracy, abs=0.05)
    assert measure.serialized_bytes(quantized) < 0.35 * measure.serialized_bytes(model)
    with pytest.raises(ValueError, match="calibration_images"):
        int8.static_int8(model, images[:0])


def test_dynamic_int8_quantizes_the_linear_layers(trained):
    model, images, labels = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        quantized = int8.dynamic_int8(model)
    assert ".quantized.dynamic." in type(quantized[16]).__module__ and isinstance(quantized[0], nn.Conv2d)
    with torch.no_grad():
        x = torch.randn(3, 1, 28, 28)
        assert torch.allclose(quantized(x), model(x), atol=0.05 * float(model(x).abs().max()) + 0.02)


def test_the_fused_float_baseline_computes_the_same_function_with_fewer_layers():
    torch.manual_seed(0)
    teacher = models.build("teacher").eval()
    for module in teacher.modules():  # batch norm statistics that are not the identity
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    fused = int8.fused_float(teacher)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(fused(x), teacher(x), atol=1e-4)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert next(fused.parameters()).dtype == torch.float32
