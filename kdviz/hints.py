"""Hint distillation as in FitNets (Romero et al. 2015), introduced in 04: the student's intermediate features,
mapped by a small regressor to the shape of the teacher's, are pulled towards the teacher's features at that depth
(the hint). Two stages, as in the paper: first the student's lower layers learn the hint alone, then the whole
student learns as usual, from labels or from the teacher's logits."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdviz import train

TEACHER_HINT_LAYERS = 14  # the teacher's two convolution blocks: (B, 64, 7, 7) features
STUDENT_GUIDED_LAYERS = 8  # student_cnn's two convolution blocks: (B, 2 * width, 7, 7) features


def hint_loss(regressed: torch.Tensor, teacher_features: torch.Tensor) -> torch.Tensor:
    """FitNets' hint loss: half the mean squared difference between the regressed student features and the
    teacher's (mean over every element, so its size does not depend on the batch or the feature map's size)."""
    if regressed.shape != teacher_features.shape:
        raise ValueError(f"the regressed student features {tuple(regressed.shape)} must match the teacher's "
                         f"{tuple(teacher_features.shape)}")
    return 0.5 * F.mse_loss(regressed, teacher_features.to(regressed.dtype))


class HintedStudent(nn.Module):
    """A student (nn.Sequential) and a 1x1-convolution regressor from its guided layer's channels to the hint's:
    ``forward`` gives the student's logits and keeps the regressed features of the batch in ``regressed``."""

    def __init__(self, student: nn.Sequential, student_channels: int, teacher_channels: int,
                 guided_layers: int = STUDENT_GUIDED_LAYERS):
        super().__init__()
        if not 0 < guided_layers < len(student):
            raise ValueError(f"guided_layers must be in 1..{len(student) - 1} (the student's first layers), "
                             f"got {guided_layers!r}")
        self.student, self.guided_layers = student, guided_layers
        self.regressor = nn.Conv2d(student_channels, teacher_channels, kernel_size=1)
        self.regressed: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        guided = self.student[:self.guided_layers](x)
        self.regressed = self.regressor(guided)
        return self.student[self.guided_layers:](guided)


def teacher_features(teacher: nn.Sequential, images: torch.Tensor, device: torch.device | str | None = None,
                     hint_layers: int = TEACHER_HINT_LAYERS) -> torch.Tensor:
    """The teacher's features after its first ``hint_layers`` layers for every image (float16, to halve their
    memory: the hint loss does not need more precision)."""
    return train.predict_logits(teacher[:hint_layers], images, device=device).half()


def fit_hints(student: nn.Sequential, features: torch.Tensor, train_split: tuple[torch.Tensor, torch.Tensor], *,
              epochs: int, lr: float, seed: int = 0, device: torch.device | str | None = None, progress: bool = True,
              description: str = "hint training") -> train.History:
    """FitNets' first stage: train the student's guided layers (in place), through a fresh regressor, on the hint
    loss alone against ``features`` (the teacher's, one map per training image; labels are not used). The
    regressor is dropped afterwards; the second stage trains the whole student as usual."""
    images, labels = train_split
    if features.dim() != 4 or len(features) != len(labels):
        raise ValueError(f"features must hold one (channels, height, width) map per training image ({len(labels)}), "
                         f"got {tuple(features.shape)}")
    convolutions = [m for m in student[:STUDENT_GUIDED_LAYERS].modules() if isinstance(m, nn.Conv2d)]
    if not convolutions:
        raise ValueError("student must have a convolution among its first layers for the hint to guide")
    hinted = HintedStudent(student, convolutions[-1].out_channels, features.shape[1])

    def loss_fn(logits: torch.Tensor, batch_labels: torch.Tensor, batch_features: torch.Tensor) -> torch.Tensor:
        return hint_loss(hinted.regressed, batch_features.float())

    return train.fit(hinted, train_split, epochs=epochs, lr=lr, augmentation=False, seed=seed, device=device,
                     progress=progress, description=description, extra=features, loss_fn=loss_fn)
