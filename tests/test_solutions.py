"""Every reference answer in solutions/ passes the check its notebook runs, and every checked exercise has one."""
from __future__ import annotations

import copy
import re
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import torch
from torch import nn

from kdviz import config, data, models, train
from solutions import exercises  # solutions/ is on the path (conftest.py)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _built_as_after_training(name: str) -> nn.Module:
    """A fresh model of the zoo (seed 0) in eval mode whose batch norms have statistics of their own, as after
    training."""
    torch.manual_seed(0)
    model = models.build(name).eval()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    return model


def _teacher_and_images():
    return _built_as_after_training("teacher"), torch.randn(8, 1, 28, 28)


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
CHECK_DATA["check_low_rank_factors"] = lambda: (_built_as_after_training("teacher")[16].weight.detach(),)
CHECK_DATA["check_unpack"] = lambda: (_built_as_after_training("teacher")[16].weight.detach(),)


def _student_regressor_and_hint():
    """A width-16 student, a regressor to the teacher's 64 channels, 32 images and the teacher's features for them."""
    torch.manual_seed(0)
    teacher, student = _built_as_after_training("teacher"), models.build("student_cnn", width=16)
    images = torch.randn(32, 1, 28, 28)
    with torch.no_grad():
        features = teacher[:14](images).half()
    return student, nn.Conv2d(32, 64, 1), images, features


def _skewed_symbols():
    torch.manual_seed(0)
    symbols = torch.distributions.Geometric(0.3).sample((3000,)).clamp(max=19).long().tolist()
    return symbols, 21


CHECK_DATA["check_hint_loss"] = _student_regressor_and_hint
CHECK_DATA["check_code_lengths"] = _skewed_symbols


def _teacher_and_labelled_images():
    """The teacher (batch-norm statistics of its own) and 1,000 uint8 images with labels: 1,000 leaves a smaller last
    batch at both of check_accuracy's batch sizes."""
    teacher, _ = _teacher_and_images()
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (1000, 28, 28), dtype=torch.uint8, generator=generator)
    return teacher, images, torch.randint(0, 10, (1000,), generator=generator)


def _third_convolution(model: nn.Sequential) -> int:
    return [i for i, layer in enumerate(model) if isinstance(layer, nn.Conv2d)][2]


def _teacher_index_and_images():
    teacher, images, labels = _teacher_and_labelled_images()
    return teacher, _third_convolution(teacher), images[:300], labels[:300]


def _compact_student_and_images():
    """notebook 05's compact student (batch-norm statistics of its own), 300 calibration and 500 test images."""
    _, images, labels = _teacher_and_labelled_images()
    return _built_as_after_training("compact_cnn"), images[:300], images[500:], labels[500:]


CHECK_DATA["check_accuracy"] = _teacher_and_labelled_images
CHECK_DATA["check_static_int8"] = _compact_student_and_images
CHECK_DATA["check_separable_swap"] = _teacher_index_and_images


def _trained_student_and_test_images():
    """A width-8 student trained one epoch on 5,000 real training images (it has batch norm, and its predictions
    differ from image to image), and 1,000 real test images."""
    quick = config.get_profile("quick")
    train_split = data.load_profile_split("fashion-mnist", "train", replace(quick, train_size=5000))
    images, labels = data.load_profile_split("fashion-mnist", "test", quick)
    config.seed_everything(0)
    student = models.build("student_cnn", width=8)
    train.fit(student, train_split, epochs=1, lr=0.05, progress=False, device="cpu")
    return student.eval(), images[:1000], labels[:1000]


def test_a_wrong_accuracy_is_told_what_is_wrong(real_fashion_mnist):
    def in_training_mode(model, images, labels, batch_size):
        model.train()
        right = 0
        for start in range(0, len(images), batch_size):
            right += int((model(data.normalize(images[start:start + batch_size])).argmax(1)
                          == labels[start:start + batch_size]).sum())
        return right / len(images)

    def whole_batches(model, images, labels, batch_size):
        kept = len(images) - len(images) % batch_size
        return exercises.my_accuracy(model, images[:kept], labels[:kept], batch_size)

    def unnormalized(model, images, labels, batch_size):
        model.eval()
        with torch.no_grad():
            return (model(images.float().unsqueeze(1) / 255).argmax(1) == labels).float().mean().item()

    def percentage(model, images, labels, batch_size):
        return 100 * exercises.my_accuracy(model, images, labels, batch_size)

    student, images, labels = _trained_student_and_test_images()
    assert exercises.checks.check_accuracy(exercises.my_accuracy, student, images, labels).passed
    for answer, words in ((in_training_mode, "training mode"), (whole_batches, "left out"),
                          (unnormalized, "standardised"), (percentage, "percentage")):
        result = exercises.checks.check_accuracy(answer, student, images, labels)
        assert not result.passed and words in result.message, (answer.__name__, result.message)


def test_a_swap_that_changes_the_given_model_or_shares_its_weights_is_told_so():
    def in_place(model, index):
        model[index] = exercises.my_separable_swap(model, index)[index]
        return model

    def shared(model, index):
        twin = nn.Sequential(*model)  # the same layer objects: the weights are shared
        twin[index] = exercises.my_separable_swap(model, index)[index]
        return twin

    def with_bias(model, index):
        twin = exercises.my_separable_swap(model, index)
        conv = model[index]
        twin[index][1] = nn.Conv2d(conv.in_channels, conv.out_channels, 3, padding=1, bias=False)
        return twin

    for answer, words in ((in_place, "changed the model it was given"), (shared, "shares weights"),
                          (with_bias, "MACs per image")):
        result = exercises.checks.check_separable_swap(answer, *_teacher_index_and_images())
        assert not result.passed and words in result.message, result.message


def test_a_swap_at_a_layer_that_is_no_convolution_is_refused_by_name():
    teacher, _, images, labels = _teacher_index_and_images()
    with pytest.raises(ValueError, match="index must name an nn.Conv2d"):
        exercises.checks.check_separable_swap(exercises.my_separable_swap, teacher, len(teacher) - 1, images, labels)


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


def test_int8_without_calibration_or_stubs_is_told_what_is_missing(real_fashion_mnist):
    from torch.ao import quantization as tq

    from kdviz import int8

    def never_calibrated(model, calibration_images):
        return exercises.my_static_int8(model, calibration_images[:0])

    def without_stubs(model, calibration_images):
        torch.backends.quantized.engine = int8.backend()
        fused = tq.fuse_modules(copy.deepcopy(model).eval(), int8.fusion_groups(model, prefix=""))
        fused.qconfig = tq.get_default_qconfig(int8.backend())
        prepared = tq.prepare(fused)
        with torch.no_grad():
            prepared(data.normalize(calibration_images))
        return tq.convert(prepared)

    student, images, labels = _trained_student_and_test_images()
    calibration = images[:200]
    assert exercises.checks.check_static_int8(exercises.my_static_int8, student, calibration, images, labels).passed
    for answer, words in ((never_calibrated, "observers have seen nothing"), (without_stubs, "QuantStub")):
        result = exercises.checks.check_static_int8(answer, student, calibration, images, labels)
        assert not result.passed and words in result.message, (answer.__name__, result.message)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.name)
def test_exercises_are_numbered_one_to_n_as_the_answer_notes_number_them(path):
    cells = nbformat.read(path, as_version=4).cells
    start = next(i for i, cell in enumerate(cells) if cell.source.startswith("## Exercises"))
    end = next(i for i, cell in enumerate(cells) if cell.source.startswith("## Further reading"))
    numbers = [int(n) for cell in cells[start:end] if cell.cell_type == "markdown"
               for n in re.findall(r"^\*\*(\d+)\.\*\*", cell.source, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    notes = (ROOT / "solutions" / "README.md").read_text()
    section = notes.split(f"## {path.name[:2]} ")[1].split("\n## ")[0]
    open_exercises = [int(n) for cell in cells[start:end] if cell.cell_type == "markdown"
                      for n in re.findall(r"^\*\*(\d+)\.\*\* \(Open\.\)", cell.source, re.MULTILINE)]
    assert [int(n) for n in re.findall(r"^\*\*(\d+)\.\*\*", section, re.MULTILINE)] == open_exercises


@pytest.mark.parametrize("mistake, hint", [
    (lambda packed, bits, count: ((packed.long()[:, None] >> (torch.arange(8 // bits) * bits).flip(0))
                                  & (2 ** bits - 1)).flatten()[:count], "the first code sits in the lowest bits"),
    (lambda packed, bits, count: (packed.long()[:, None] >> (torch.arange(8 // bits) * bits)).flatten()[:count],
     "keep only the lowest bits"),
    (lambda packed, bits, count: ((packed.long()[:, None] >> (torch.arange(8 // bits) * bits))
                                  & (2 ** bits - 1)).flatten(), "the last byte is padded"),
])
def test_unpacking_mistakes_are_told_apart(mistake, hint):
    result = exercises.checks.check_unpack(mistake, _built_as_after_training("teacher")[16].weight.detach())
    assert not result.passed and hint in result.message


def test_factors_without_their_singular_values_are_told_so():
    def without_values(weight, rank):
        u, _, vh = torch.linalg.svd(weight, full_matrices=False)
        return vh[:rank], u[:, :rank]

    result = exercises.checks.check_low_rank_factors(without_values, _built_as_after_training("teacher")[16].weight)
    assert not result.passed and "carry the singular values" in result.message
    wrong_shape = exercises.checks.check_low_rank_factors(lambda w, r: (torch.zeros(r, 3), torch.zeros(3, r)),
                                                          _built_as_after_training("teacher")[16].weight)
    assert not wrong_shape.passed and "expected first (1, 3136)" in wrong_shape.message


@pytest.mark.parametrize("mistake, hint", [
    (lambda s, r, x, t: ((r(s[:8](x)) - t.float()) ** 2).mean(), "multiply by 0.5"),
    (lambda s, r, x, t: 0.5 * ((r(s[:8](x)) - t.float()) ** 2).sum(), "not the sum"),
    (lambda s, r, x, t: exercises.my_hint_loss(s, r, x, t).detach(), "no gradient"),
])
def test_hint_loss_mistakes_are_told_apart(mistake, hint):
    result = exercises.checks.check_hint_loss(mistake, *_student_regressor_and_hint())
    assert not result.passed and hint in result.message, result.message


@pytest.mark.parametrize("mistake, hint", [
    (lambda symbols, alphabet: [5] * alphabet, "fixed-width"),
    (lambda symbols, alphabet: [1] * alphabet, "No prefix code"),
    (lambda symbols, alphabet: [0] * alphabet, "at least one bit"),
    (lambda symbols, alphabet: exercises.my_code_lengths(symbols, alphabet)[:-1], "one per symbol"),
    (lambda symbols, alphabet: [min(s + 1, 19) for s in range(alphabet)], "smallest"),
])
def test_code_length_mistakes_are_told_apart(mistake, hint):
    result = exercises.checks.check_code_lengths(mistake, *_skewed_symbols())
    assert not result.passed and hint in result.message, result.message
