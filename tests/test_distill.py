"""kdviz.distill: soft targets and the loss against independent formulations, T^2 scaling, bad input."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from conftest import striped_images
from kdviz import distill, models, train


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    student = torch.randn(16, 10, generator=generator) * 2
    teacher = torch.randn(16, 10, generator=generator) * 5
    labels = torch.randint(0, 10, (16,), generator=generator)
    return student, teacher, labels


def test_soft_targets_are_a_softmax_that_softens(batch):
    _, teacher, _ = batch
    manual = torch.exp(teacher / 4) / torch.exp(teacher / 4).sum(-1, keepdim=True)
    assert torch.allclose(distill.soft_targets(teacher, 4), manual, atol=1e-6)
    assert torch.allclose(distill.soft_targets(teacher, 1), torch.softmax(teacher, -1))
    for T in (0.5, 1, 8, 50):
        assert torch.allclose(distill.soft_targets(teacher, T).sum(-1), torch.ones(16))
    spread = [float((p.max(-1).values - p.min(-1).values).mean()) for p in
              (distill.soft_targets(teacher, T) for T in (1, 4, 16, 1000))]
    assert spread == sorted(spread, reverse=True) and spread[-1] < 0.01  # towards uniform as T grows


def test_entropy_grows_with_temperature_to_log2_classes(batch):
    _, teacher, _ = batch
    curve = distill.entropy_curve(teacher, [0.5, 1, 4, 16, 1000])
    assert curve == sorted(curve) and curve[-1] == pytest.approx(math.log2(10), abs=1e-3)
    assert float(distill.entropy(torch.tensor([1.0, 0.0]))) == 0


def test_loss_matches_torch_modules(batch):
    student, teacher, labels = batch
    T, alpha = 8.0, 0.9
    kl = nn.KLDivLoss(reduction="batchmean")(torch.log_softmax(student / T, 1), torch.softmax(teacher / T, 1))
    expected = alpha * T * T * kl + (1 - alpha) * nn.CrossEntropyLoss()(student, labels)
    assert distill.distillation_loss(student, teacher, labels, T, alpha).item() == pytest.approx(expected.item(), rel=1e-5)


def test_loss_matches_the_written_out_formula(batch):
    student, teacher, labels = batch
    T, alpha = 3.0, 0.3
    p_teacher, p_student = torch.softmax(teacher / T, 1), torch.softmax(student / T, 1)
    kl = (p_teacher * (p_teacher.log() - p_student.log())).sum(1).mean()
    ce = -torch.log_softmax(student, 1)[torch.arange(16), labels].mean()
    expected = alpha * T ** 2 * kl + (1 - alpha) * ce
    assert distill.distillation_loss(student, teacher, labels, T, alpha).item() == pytest.approx(expected.item(), rel=1e-5)


def test_alpha_weights_the_soft_term(batch):
    student, teacher, labels = batch
    only_hard = distill.distillation_loss(student, teacher, labels, 4, 0.0)
    only_soft = distill.distillation_loss(student, teacher, labels, 4, 1.0)
    assert only_hard.item() == pytest.approx(nn.functional.cross_entropy(student, labels).item(), rel=1e-6)
    assert only_soft.item() == pytest.approx(16 * distill.soft_loss(student, teacher, 4).item(), rel=1e-6)


def test_soft_gradients_shrink_as_one_over_T_squared_and_T2_restores_them(batch):
    student, teacher, _ = batch
    scaling = distill.gradient_scaling(student / 10, teacher / 10, [10, 20, 40])  # small logits: the high-T regime
    without, with_t2 = scaling["without_T2"], scaling["with_T2"]
    assert without[1] / without[0] == pytest.approx(1 / 4, rel=0.05)
    assert without[2] / without[1] == pytest.approx(1 / 4, rel=0.05)
    assert with_t2[2] / with_t2[0] == pytest.approx(1, rel=0.1)


def test_breakdown_agrees_with_the_loss(batch):
    student, teacher, labels = batch
    parts = distill.loss_breakdown(student, teacher, labels, 8, 0.9)
    loss = distill.distillation_loss(student, teacher, labels, 8, 0.9)
    assert parts.total == pytest.approx(loss.item(), rel=1e-5)
    assert parts.soft == pytest.approx(0.9 * 64 * distill.soft_loss(student, teacher, 8).item(), rel=1e-5)
    assert parts.hard == pytest.approx(0.1 * distill.hard_loss(student, labels).item(), rel=1e-5)
    assert parts.soft_grad == pytest.approx(64 * parts.soft_grad_without_T2, rel=1e-5)
    assert (parts.T, parts.alpha) == (8.0, 0.9)
    assert distill.loss_breakdown(student, teacher, labels, 8, 1.0).hard_grad == 0


def test_unlabelled_examples_learn_from_the_teacher_only(batch):
    student, teacher, labels = batch
    none = torch.full_like(labels, distill.UNLABELLED)
    assert distill.distillation_loss(student, teacher, none, 2, 0.5).item() == pytest.approx(
        0.5 * 4 * distill.soft_loss(student, teacher, 2).item(), rel=1e-6)
    some = labels.clone()
    some[8:] = distill.UNLABELLED
    hard = nn.functional.cross_entropy(student[:8], labels[:8])
    assert distill.hard_loss(student, some).item() == pytest.approx(hard.item(), rel=1e-6)


@pytest.mark.parametrize("T", [0, -1, float("nan"), float("inf"), "8", True])
def test_bad_temperature_is_named(batch, T):
    student, teacher, labels = batch
    with pytest.raises(ValueError, match=r"T \(the temperature\) must be a number from"):
        distill.distillation_loss(student, teacher, labels, T, 0.5)
    with pytest.raises(ValueError, match="T"):
        distill.soft_targets(teacher, T)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_bad_alpha_is_named(batch, alpha):
    student, teacher, labels = batch
    with pytest.raises(ValueError, match=r"alpha \(the weight of the soft term\) must be in \[0, 1\]"):
        distill.distillation_loss(student, teacher, labels, 4, alpha)


def test_mismatched_shapes_and_classes_are_named(batch):
    student, teacher, labels = batch
    with pytest.raises(ValueError, match="same shape"):
        distill.distillation_loss(student, teacher[:, :9], labels, 4, 0.5)
    with pytest.raises(ValueError, match="same shape"):
        distill.distillation_loss(student[:8], teacher, labels, 4, 0.5)
    with pytest.raises(ValueError, match="labels must be integers of shape"):
        distill.distillation_loss(student, teacher, labels[:8], 4, 0.5)
    with pytest.raises(ValueError, match=r"labels must be in 0..9"):
        distill.distillation_loss(student, teacher, labels + 5, 4, 0.5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        distill.soft_targets(torch.zeros(3, 1), 1)


def test_class_similarity_rows_are_average_soft_targets():
    logits = torch.tensor([[5.0, 1.0, 0.0], [4.0, 2.0, 0.0], [0.0, 5.0, 4.0]])
    labels = torch.tensor([0, 0, 1])
    similarity = distill.class_similarity(logits, labels, T=2)
    assert torch.allclose(similarity[0], distill.soft_targets(logits[:2], 2).mean(0))
    assert torch.allclose(similarity[:2].sum(1), torch.ones(2)) and similarity[2].sum() == 0  # class 2 unseen


def test_a_student_learns_from_soft_targets_alone():
    images, labels = striped_images(400, 0)
    teacher_logits = nn.functional.one_hot(labels, 10).float() * 6  # a confident, correct "teacher"
    unlabelled = torch.full_like(labels, distill.UNLABELLED)
    torch.manual_seed(0)
    student = models.build("mlp", hidden=32)
    history = distill.fit_student(student, teacher_logits, (images, unlabelled), striped_images(200, 1), T=4, alpha=1.0,
                                  epochs=3, lr=0.1, batch_size=50, device="cpu", progress=False)
    assert history.final_test_accuracy > 0.9  # no label was seen: all it knows came from the teacher
    assert history.records[0]["train_accuracy"] == 0  # nothing labelled to score
    with pytest.raises(ValueError, match="one row per training image"):
        distill.fit_student(student, teacher_logits[:10], (images, labels), T=4, alpha=0.5, epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="augmentation must be False"):
        train.fit(student, (images, labels), epochs=1, lr=0.1, augmentation=True, extra=teacher_logits)


def test_a_fit_validates_its_inputs_once_not_on_every_batch(monkeypatch):
    images, labels = striped_images(200, 0)
    teacher_logits = nn.functional.one_hot(labels, 10).float() * 6
    calls = []
    original = distill._check_labels
    monkeypatch.setattr(distill, "_check_labels", lambda *a: calls.append(a[1]) or original(*a))
    distill.fit_student(models.build("mlp", hidden=8), teacher_logits, (images, labels), T=4, alpha=0.5, epochs=2,
                        lr=0.1, batch_size=20, device="cpu", progress=False)  # 20 batches
    assert calls == [200]
    wrong = labels.clone()
    wrong[7] = 10
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9 \(or -1 for unlabelled\), got values from 0 to 10"):
        distill.fit_student(models.build("mlp", hidden=8), teacher_logits, (images, wrong), T=4, alpha=0.5, epochs=1,
                            lr=0.1, device="cpu", progress=False)


def test_the_temperature_table_is_softmax_of_logits_over_T():
    logits = torch.tensor([2.0, 9.0, -1.0])
    table = distill.temperature_table(logits, [1, 4], ["a", "b", "c"])
    assert list(table.columns) == ["T = 1", "T = 4"] and list(table.index) == ["a", "b", "c"]
    for T in (1, 4):
        expected = [math.exp(v / T) for v in logits.tolist()]
        assert table[f"T = {T}"].tolist() == pytest.approx([v / sum(expected) for v in expected], rel=1e-12)
    with pytest.raises(ValueError, match="one image's logits, one per class"):
        distill.temperature_table(torch.zeros(2, 3), [1], ["a", "b", "c"])
    for temperatures in ([], [2, 2.0]):
        with pytest.raises(ValueError, match="temperatures must name at least one temperature, each once"):
            distill.temperature_table(logits, temperatures, ["a", "b", "c"])
