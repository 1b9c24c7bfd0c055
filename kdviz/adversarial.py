"""Distillation elsewhere: defensive distillation (Papernot et al. 2016) against the fast gradient sign method,
and why the defence is gradient masking rather than robustness (Carlini and Wagner 2016) (introduced in 05)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from kdviz import cache, config, data, distill, models, train

KINDS = ("standard", "defensive teacher", "defensively distilled")


def validate_epsilon(epsilon: float) -> float:
    """epsilon as a float, or a ValueError naming the argument and its range (pixels are in [0, 1])."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon (the largest change of a pixel, pixels in [0, 1]) must be in [0, 1], got {epsilon!r}")
    return float(epsilon)


class Standardize(nn.Module):
    """Pixels in [0, 1], (N, 1, 28, 28), to the standardised inputs the models were trained on."""

    def __init__(self, name: str = "fashion-mnist") -> None:
        super().__init__()
        info = data.dataset_info(name)
        self.mean, self.std = info.mean, info.std

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return (pixels - self.mean) / self.std


def on_pixels(model: nn.Module, name: str = "fashion-mnist") -> nn.Sequential:
    """``model`` taking pixels in [0, 1]: the attack moves pixels, within their range."""
    return nn.Sequential(Standardize(name), model).eval()


def pixels(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, 28, 28) as floats in [0, 1], (N, 1, 28, 28)."""
    return images.float().div(255.0).unsqueeze(1)


def fgsm_step(x: torch.Tensor, gradient: torch.Tensor, epsilon: float) -> torch.Tensor:
    """One fast-gradient-sign step: every pixel moved by epsilon in the direction that raises the loss, kept in [0, 1]."""
    return (x + validate_epsilon(epsilon) * gradient.sign()).clamp(0.0, 1.0)


def input_gradient(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """The gradient of the cross-entropy of softmax(model(x) / temperature) against the labels, w.r.t. the pixels.

    ``temperature`` > 1 is the attacker's answer to defensive distillation: it undoes the saturated softmax.
    """
    temperature = distill.validate_temperature(temperature)
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x) / temperature, labels, reduction="sum")
    (gradient,) = torch.autograd.grad(loss, x)
    return gradient


def fgsm(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, epsilon: float, temperature: float = 1.0) -> torch.Tensor:
    """Adversarial pixels by the fast gradient sign method (Goodfellow et al. 2015), for a model on pixels."""
    return fgsm_step(x, input_gradient(model, x, labels, temperature), epsilon)


def attack_curve(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, epsilons: Sequence[float],
                 temperature: float = 1.0, batch_size: int = 500) -> dict[str, list[float]]:
    """Accuracy under FGSM at each epsilon, and the share of images whose input gradient is exactly zero (where
    the sign has nothing to follow), for a model on standardised inputs and uint8 test images."""
    attacked = on_pixels(model.cpu())
    epsilons = [validate_epsilon(e) for e in epsilons]
    correct, zero = torch.zeros(len(epsilons)), 0
    for start in range(0, len(labels), batch_size):
        x, y = pixels(images[start:start + batch_size]), labels[start:start + batch_size]
        gradient = input_gradient(attacked, x, y, temperature)
        zero += int((gradient.flatten(1).abs().amax(1) == 0).sum())
        with torch.no_grad():
            for i, epsilon in enumerate(epsilons):
                correct[i] += (attacked(fgsm_step(x, gradient, epsilon)).argmax(1) == y).sum()
    return {"epsilon": epsilons, "accuracy": (correct / len(labels)).tolist(), "zero_gradient": zero / len(labels)}


@dataclass(frozen=True)
class Defence:
    """Settings of the three models (every field is part of the cache key)."""

    width: int = 16  # student_cnn
    T: float = 20.0  # the distillation temperature of the defence (Papernot et al. used 20 to 100)
    epochs: int = 6
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        distill.validate_temperature(self.T)
        for name in ("width", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, T: float) -> torch.Tensor:
    return -(targets * F.log_softmax(logits / T, dim=1)).sum(1).mean()


def trained(kind: str, defence: Defence = Defence(), profile: config.Profile | str | None = None, device: torch.device | str | None = None,
            progress: bool = True) -> tuple[nn.Module, dict]:
    """One model of the demonstration (cached): "standard" (cross-entropy at T = 1); "defensive teacher"
    (cross-entropy on softmax(z / T)); "defensively distilled" (trained at T on the defensive teacher's soft labels
    at T). All are deployed at T = 1, as the defence prescribes."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    profile = config.get_profile(profile)
    T = float(defence.T)
    split = data.load_profile_split("fashion-mnist", "train", profile.for_students())
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        targets, temperature = None, 1.0 if kind == "standard" else T
        if kind == "defensively distilled":
            teacher, _ = trained("defensive teacher", defence, profile, device, progress)
            targets = torch.softmax(train.predict_logits(teacher, split[0], device=device) / T, dim=1)

        def loss_fn(logits: torch.Tensor, labels: torch.Tensor, soft: torch.Tensor | None) -> torch.Tensor:
            if soft is not None:
                return _soft_cross_entropy(logits, soft, temperature)
            return F.cross_entropy(logits / temperature, labels)

        history = train.fit(model, split, test, epochs=profile.epochs(defence.epochs), lr=defence.lr,
                            seed=defence.seed, device=device, progress=progress, description=kind, extra=targets,
                            loss_fn=loss_fn)
        return {"accuracy": history.final_test_accuracy, "seconds": history.seconds}

    config.seed_everything(defence.seed)
    fresh = models.build("student_cnn", width=defence.width)
    model, result = cache.cached_model("defence", train.profile_key(profile, config.STUDENT_FIELDS, kind=kind, **asdict(defence)),
                                       fresh, compute)
    return model.eval(), result


def logit_scale(model: nn.Module, images: torch.Tensor) -> float:
    """The median gap between a model's largest and second-largest logit over ``images``: how saturated its softmax is."""
    top = train.predict_logits(model, images, device="cpu").topk(2, dim=1).values
    return float((top[:, 0] - top[:, 1]).median())
