"""Every reference answer in solutions/ passes the check its notebook runs, and every checked exercise has one."""
from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from kdviz import config, data, models
from solutions import exercises  # solutions/ is on the path (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _teacher_and_images():
    torch.manual_seed(0)
    teacher = models.build("teacher").eval()
    for module in teacher.modules():  # batch norm with statistics of its own, as after training
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return teacher, torch.randn(8, 1, 28, 28)


def _distillation_data():
    """20,000 real training images with a teacher that is always right and sure (logits +6 / -6), 2,000 test images."""
    quick = config.get_profile("quick")
    images, labels = data.load_profile_split("fashion-mnist", "train", replace(quick, train_size=20_000))
    teacher_logits = 12 * nn.functional.one_hot(labels, 10).float() - 6
    return (images, labels), teacher_logits, data.load_profile_split("fashion-mnist", "test", quick)


CHECK_DATA = {  # what the notebook passes besides the answer
    "check_channels_before_linear": _teacher_and_images,
    "check_distillation_epoch": _distillation_data,
}
NEEDS_REAL_DATA = {"check_distillation_epoch"}


def _output_layer_and_activations():
    torch.manual_seed(0)
    layer = nn.Linear(64, 10)
    return layer, torch.relu(torch.randn(300, 64) * 2), torch.relu(torch.randn(200, 64) * 2)


CHECK_DATA["check_integer_linear_per_channel"] = _output_layer_and_activations


def test_an_integer_layer_with_one_multiplier_for_all_channels_is_told_so():
    def one_multiplier(codes, weight_codes, bias_codes, input_zero_point, multipliers, shifts, output_zero_point):
        return exercises.my_integer_linear_per_channel(codes, weight_codes, bias_codes, input_zero_point,
                                                       multipliers[:1].expand_as(multipliers),
                                                       shifts[:1].expand_as(shifts), output_zero_point)

    result = exercises.checks.check_integer_linear_per_channel(one_multiplier, *_output_layer_and_activations())
    assert not result.passed and "its own multiplier" in result.message


@pytest.mark.parametrize("check", list(exercises.SOLUTIONS), ids=lambda check: check.__name__)
def test_the_reference_answer_passes_its_check(check, request):
    if check.__name__ in NEEDS_REAL_DATA:
        request.getfixturevalue("real_fashion_mnist")
    arguments = CHECK_DATA[check.__name__]() if check.__name__ in CHECK_DATA else ()
    result = check(exercises.SOLUTIONS[check], *arguments)
    assert result.passed, result.message


def test_every_checked_exercise_has_a_reference_answer_of_the_notebooks_name():
    asked = {}
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            match = re.search(r"checks\.(check_\w+)\((\w+)[,)]", cell.source)
            if cell.cell_type == "code" and "raise NotImplementedError" in cell.source and match:
                asked[match[1]] = match[2]
    assert asked, "no checked exercise found in the notebooks"
    answered = {check.__name__: answer.__name__ for check, answer in exercises.SOLUTIONS.items()}
    assert answered == asked


def test_a_wrong_answer_fails_its_check():
    """The checks can fail: an answer off by one is told so, with a hint."""
    result = exercises.checks.check_conv2d_macs(lambda m, n, k, size: exercises.conv2d_macs(m, n, k, size) + 1)
    assert not result.passed and result.message


def test_channel_surgery_that_forgets_the_batch_norm_statistics_is_told_so():
    def forgetful(conv, norm, linear, keep):
        smaller_conv, smaller_norm, smaller_linear = exercises.channels_before_linear(conv, norm, linear, keep)
        smaller_norm.running_mean.zero_()
        smaller_norm.running_var.fill_(1)
        return smaller_conv, smaller_norm, smaller_linear

    result = exercises.checks.check_channels_before_linear(forgetful, *_teacher_and_images())
    assert not result.passed and "running_mean" in result.message


def test_channel_surgery_that_keeps_the_wrong_columns_is_told_where_they_are():
    def first_columns(conv, norm, linear, keep):
        smaller_conv, smaller_norm, _ = exercises.channels_before_linear(conv, norm, linear, keep)
        smaller_linear = nn.Linear(linear.in_features // 2, linear.out_features)
        smaller_linear.weight.data = linear.weight.data[:, : linear.in_features // 2].clone()
        smaller_linear.bias.data = linear.bias.data.clone()
        return smaller_conv, smaller_norm, smaller_linear

    result = exercises.checks.check_channels_before_linear(first_columns, *_teacher_and_images())
    assert not result.passed and "columns" in result.message


def test_an_epoch_that_never_steps_is_told_so(real_fashion_mnist):
    result = exercises.checks.check_distillation_epoch(lambda *arguments: None, *_distillation_data())
    assert not result.passed and "did not change" in result.message
