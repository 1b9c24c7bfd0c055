"""Knowledge distillation: soft targets, the alpha/T loss, and what temperature does (introduced in 04)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from kdviz import train

UNLABELLED = -1  # a label that says "no label": only the soft term learns from such an example
PRECISE_ABOVE = 100.0  # temperatures above which the soft term is computed in float64 (see soft_loss)


MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 1e6  # beyond them T² or logits / T leave float range


def validate_temperature(T: float) -> float:
    """T as a float, or a ValueError naming the argument and its range."""
    if isinstance(T, bool) or not isinstance(T, (int, float)) or not MIN_TEMPERATURE <= T <= MAX_TEMPERATURE:
        raise ValueError(f"T (the temperature) must be a number from {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}, "
                         f"got {T!r}")
    return float(T)


def validate_alpha(alpha: float) -> float:
    """alpha as a float, or a ValueError naming the argument and its range."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the weight of the soft term) must be in [0, 1], got {alpha!r}")
    return float(alpha)


def _check_logits(logits: torch.Tensor, name: str) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point() or logits.dim() < 1 \
            or logits.shape[-1] < 2:
        shape = f"{logits.dtype} {tuple(logits.shape)}" if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"{name} must be a float tensor of logits (..., classes) with at least 2 classes, got {shape}")
    if logits.numel() == 0:
        raise ValueError(f"{name} must hold at least one example, got shape {tuple(logits.shape)}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name} must be finite (no nan or inf): a diverged model gives such logits")


def soft_targets(logits: torch.Tensor, T: float) -> torch.Tensor:
    """softmax(logits / T) over the last dimension: T = 1 is the usual softmax, larger T is softer."""
    _check_logits(logits, "logits")
    return torch.softmax(logits / validate_temperature(T), dim=-1)


def entropy(probabilities: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in bits of each distribution (last dimension): 0 for one-hot, log2(C) for uniform."""
    return -(probabilities * torch.log2(probabilities.clamp_min(1e-30))).sum(-1)


def validate_batch(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor) -> None:
    """A ValueError naming what is wrong unless the student's and teacher's logits are (batch, classes) of one shape
    and the labels are integers in 0..classes-1 (or ``UNLABELLED``), one per row."""
    _check_logits(student_logits, "student_logits")
    _check_logits(teacher_logits, "teacher_logits")
    if student_logits.dim() != 2:
        raise ValueError(f"student_logits must be (batch, classes), got {tuple(student_logits.shape)}")
    if student_logits.shape != teacher_logits.shape:
        raise ValueError("student_logits and teacher_logits must have the same shape (batch, classes), got "
                         f"{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}")
    _check_labels(labels, len(student_logits), student_logits.shape[1])


def _check_labels(labels: torch.Tensor, count: int, classes: int) -> None:
    if not isinstance(labels, torch.Tensor):
        raise ValueError(f"labels must be a tensor of integers of shape ({count},), got {type(labels).__name__}")
    if labels.shape != (count,) or labels.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"labels must be integers of shape ({count},), got {labels.dtype} {tuple(labels.shape)}")
    if labels.numel() and (labels.max() >= classes or labels.min() < UNLABELLED):
        raise ValueError(f"labels must be in 0..{classes - 1} (or {UNLABELLED} for unlabelled), "
                         f"got values from {int(labels.min())} to {int(labels.max())}")


def soft_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, T: float) -> torch.Tensor:
    """KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch, *without* the T^2 factor."""
    T = validate_temperature(T)
    if T > PRECISE_ABOVE:  # the KL is of order 1/T²: float32's rounding of log-probabilities would swamp it
        precise = F.kl_div(F.log_softmax(student_logits.double() / T, dim=-1),
                           F.log_softmax(teacher_logits.double() / T, dim=-1), reduction="batchmean", log_target=True)
        return precise.to(student_logits.dtype)
    return F.kl_div(F.log_softmax(student_logits / T, dim=-1), F.log_softmax(teacher_logits / T, dim=-1),
                    reduction="batchmean", log_target=True)


def hard_loss(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy with the true labels at T = 1, over the labelled examples only (0 if there are none)."""
    labelled = labels != UNLABELLED
    if not labelled.any():
        return student_logits.sum() * 0.0
    return F.cross_entropy(student_logits[labelled], labels[labelled])


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                      T: float, alpha: float) -> torch.Tensor:
    """alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)) + (1 - alpha) * CE(student, labels).

    alpha weights the *soft* term (as in Hinton et al. 2015 and the talk: alpha = 0.9 is mostly teacher). The
    T^2 keeps the soft term's gradients the same size whatever T, so alpha means the same thing at every T.
    Labels equal to ``UNLABELLED`` (-1) contribute only to the soft term (a transfer set without labels).
    """
    alpha = validate_alpha(alpha)
    T = validate_temperature(T)
    validate_batch(student_logits, teacher_logits, labels)
    loss = _weighted_loss(student_logits, teacher_logits, labels, T, alpha)
    if not torch.isfinite(loss).all():
        raise ValueError("student_logits must span less than float32 can hold: their loss overflows (a diverged "
                         f"model gives such logits; the largest is {float(student_logits.abs().max()):.3g})")
    return loss


def _weighted_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                   T: float, alpha: float) -> torch.Tensor:
    """:func:`distillation_loss` on inputs already validated (what a training loop calls for every batch). A term
    whose weight is 0 is left out, not multiplied by 0 (0 times an overflowed term would be nan)."""
    soft = alpha * T ** 2 * soft_loss(student_logits, teacher_logits, T) if alpha > 0 else None
    hard = (1 - alpha) * hard_loss(student_logits, labels) if alpha < 1 else None
    return hard if soft is None else soft if hard is None else soft + hard


@dataclass(frozen=True)
class LossBreakdown:
    """The distillation loss at (T, alpha), term by term, weighted as in the loss, and each weighted term's gradient
    norm with respect to the student's logits."""

    T: float
    alpha: float
    soft: float  # alpha T² KL
    hard: float  # (1 - alpha) CE
    soft_grad: float  # norm of the gradient of alpha T² KL
    hard_grad: float  # norm of the gradient of (1 - alpha) CE
    soft_grad_without_T2: float  # norm of the gradient of alpha KL: the talk's formula, which omits T²

    @property
    def total(self) -> float:
        return self.soft + self.hard


def loss_breakdown(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                   T: float, alpha: float) -> LossBreakdown:
    """Both weighted terms of :func:`distillation_loss` at (T, alpha) and their gradient norms: everything the loss
    explorer draws."""
    alpha, T = validate_alpha(alpha), validate_temperature(T)
    validate_batch(student_logits, teacher_logits, labels)
    logits = student_logits.detach().clone().requires_grad_(True)
    teacher = teacher_logits.detach()
    kl = soft_loss(logits, teacher, T)
    ce = hard_loss(logits, labels)
    (kl_grad,) = torch.autograd.grad(kl, logits, retain_graph=True)
    ce_grad = torch.autograd.grad(ce, logits)[0] if ce.requires_grad else torch.zeros_like(logits)
    return LossBreakdown(T=T, alpha=alpha, soft=alpha * T ** 2 * kl.item(), hard=(1 - alpha) * ce.item(),
                         soft_grad=float(alpha * T ** 2 * kl_grad.norm()), hard_grad=float((1 - alpha) * ce_grad.norm()),
                         soft_grad_without_T2=float(alpha * kl_grad.norm()))


def gradient_scaling(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     temperatures: Sequence[float]) -> dict[str, list[float]]:
    """Norm of the KL term's gradient w.r.t. the student's logits at each T, without and with the T^2 factor."""
    without, with_t2 = [], []
    for T in temperatures:
        logits = student_logits.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(soft_loss(logits, teacher_logits.detach(), T), logits)
        without.append(float(grad.norm()))
        with_t2.append(float(grad.norm() * validate_temperature(T) ** 2))
    return {"T": [float(T) for T in temperatures], "without_T2": without, "with_T2": with_t2}


def temperature_table(logits: torch.Tensor, temperatures: Sequence[float], classes: Sequence[str]) -> pd.DataFrame:
    """One image's soft targets at each temperature, as a table: a row per class, a column per T."""
    _check_logits(logits, "logits")
    if logits.dim() != 1 or len(logits) != len(classes):
        raise ValueError(f"logits must be one image's logits, one per class ({len(classes)}), got {tuple(logits.shape)}")
    temperatures = [float(T) for T in temperatures]
    if not temperatures or len(set(temperatures)) != len(temperatures):
        raise ValueError(f"temperatures must name at least one temperature, each once, got {temperatures}")
    columns = {f"T = {T:g}": soft_targets(logits.double(), T).tolist() for T in temperatures}
    return pd.DataFrame(columns, index=pd.Index(list(classes), name="class"))


def entropy_curve(logits: torch.Tensor, temperatures: Sequence[float]) -> list[float]:
    """Mean entropy (bits) of the soft targets at each temperature."""
    return [float(entropy(soft_targets(logits, T)).mean()) for T in temperatures]


def class_similarity(teacher_logits: torch.Tensor, labels: torch.Tensor, T: float = 1.0) -> torch.Tensor:
    """(C, C) matrix whose row c is the teacher's average soft target over the images of true class c."""
    _check_logits(teacher_logits, "teacher_logits")
    if teacher_logits.dim() != 2:
        raise ValueError(f"teacher_logits must be (images, classes), got {tuple(teacher_logits.shape)}")
    classes = teacher_logits.shape[-1]
    _check_labels(labels, len(teacher_logits), classes)
    if labels.min() < 0:
        raise ValueError(f"labels must be in 0..{classes - 1}, got values from {int(labels.min())}")
    probabilities = soft_targets(teacher_logits, T)
    totals = torch.zeros(classes, classes).index_add_(0, labels, probabilities.float())
    counts = torch.bincount(labels, minlength=classes).clamp_min(1)
    return totals / counts[:, None]


def fit_student(student: nn.Module, teacher_logits: torch.Tensor, train_split: tuple[torch.Tensor, torch.Tensor],
                test: tuple[torch.Tensor, torch.Tensor] | None = None, *, T: float, alpha: float, epochs: int,
                lr: float, batch_size: int = 128, weight_decay: float = 5e-4, seed: int = 0,
                device: torch.device | str | None = None, progress: bool = True,
                description: str = "distilling") -> train.History:
    """Train ``student`` on ``distillation_loss`` against precomputed ``teacher_logits`` (one row per training image).

    Labels of ``UNLABELLED`` (-1) make a transfer set: those images teach through the soft term only.
    """
    T, alpha = validate_temperature(T), validate_alpha(alpha)
    images, labels = train_split
    _check_logits(teacher_logits, "teacher_logits")
    if teacher_logits.dim() != 2 or teacher_logits.shape[0] != len(labels):
        raise ValueError(f"teacher_logits must have one row per training image ({len(labels)}, classes), "
                         f"got {tuple(teacher_logits.shape)}")
    _check_labels(labels, len(labels), teacher_logits.shape[1])  # once here, not on every batch

    def loss_fn(student_logits: torch.Tensor, batch_labels: torch.Tensor, batch_teacher: torch.Tensor) -> torch.Tensor:
        return _weighted_loss(student_logits, batch_teacher, batch_labels, T, alpha)

    return train.fit(student, train_split, test, epochs=epochs, lr=lr, batch_size=batch_size,
                     weight_decay=weight_decay, augmentation=False, seed=seed, device=device, progress=progress,
                     description=description, extra=teacher_logits.float(), loss_fn=loss_fn)
