"""kdviz.hints: FitNets' hint loss against its formula, the hinted student computes what the student does, and
the hint stage trains only the guided layers, towards the teacher's features."""
from __future__ import annotations

import pytest
import torch

from kdviz import hints, models


def test_the_hint_loss_is_half_the_mean_squared_difference():
    a, b = torch.randn(4, 8, 7, 7), torch.randn(4, 8, 7, 7)
    assert torch.allclose(hints.hint_loss(a, b), ((a - b) ** 2).sum() / a.numel() / 2)
    assert hints.hint_loss(a, a.half().float()) < 1e-6


def test_the_hinted_student_gives_the_students_logits_and_keeps_the_regressed_features():
    student = models.build("student_cnn", width=4).eval()
    hinted = hints.HintedStudent(student, 8, 64).eval()
    x = torch.randn(3, 1, 28, 28)
    assert torch.allclose(hinted(x), student(x))
    assert hinted.regressed.shape == (3, 64, 7, 7)


def test_the_teachers_features_are_its_convolution_blocks_output():
    teacher = models.build("teacher", width=4).eval()
    images = torch.randint(0, 256, (5, 28, 28), dtype=torch.uint8)
    features = hints.teacher_features(teacher, images, device="cpu")
    assert features.dtype == torch.float16 and features.shape == (5, 8, 7, 7)


def test_the_hint_stage_trains_the_guided_layers_towards_the_hint():
    torch.manual_seed(0)
    student = models.build("student_cnn", width=4)
    classifier = student[-1].weight.detach().clone()
    first = student[0].weight.detach().clone()
    images = torch.randint(0, 256, (512, 28, 28), dtype=torch.uint8)
    features = torch.relu(torch.randn(512, 16, 7, 7)).half()
    labels = torch.full((512,), -1)
    history = hints.fit_hints(student, features, (images, labels), epochs=3, lr=0.05, device="cpu", progress=False)
    losses = [record["train_loss"] for record in history.records]
    assert losses[-1] < losses[0]
    assert torch.equal(student[-1].weight, classifier)  # no gradient reaches the classifier in this stage
    assert not torch.equal(student[0].weight, first)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="must match the teacher's"):
        hints.hint_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="guided_layers must be in 1..9"):
        hints.HintedStudent(models.build("student_cnn"), 16, 64, guided_layers=10)
    student = models.build("student_cnn", width=4)
    with pytest.raises(ValueError, match="one \\(channels, height, width\\) map per training image"):
        hints.fit_hints(student, torch.zeros(3, 16), (torch.zeros(3, 28, 28, dtype=torch.uint8), torch.zeros(3).long()),
                        epochs=1, lr=0.1, progress=False)
