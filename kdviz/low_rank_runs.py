"""The teacher's first fully connected layer factorized at every rank, with and without fine-tuning, cached
(introduced in 01)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from kdviz import cache, config, data, low_rank, measure, train

LAYER = 16  # the teacher's first fully connected layer, 3,136 -> 256: nine tenths of its parameters
RANKS = (1, 2, 4, 8, 16, 32, 64, 128)
FINETUNED_RANKS = (4, 8, 16, 32)
FINETUNE_IMAGES = config.FINETUNE_IMAGES  # training images of the one fine-tuning pass, as an iterative pruning step
WITHIN = 0.005  # the chosen rank: the smallest whose fine-tuned validation accuracy is within this of the teacher's


def _row(model: nn.Module, profile: config.Profile) -> dict:
    validation = data.load_profile_split("fashion-mnist", "validation", profile)
    test = data.load_profile_split("fashion-mnist", "test", profile)
    return {"parameters": measure.count_parameters(model), "bytes": measure.serialized_bytes(model),
            "MACs": measure.macs(model), "validation_accuracy": train.evaluate(model, *validation).accuracy,
            "accuracy": train.evaluate(model, *test).accuracy}


def sweep(profile: config.Profile | str | None = None, ranks: Sequence[int] = RANKS) -> dict:
    """The teacher with its first fully connected layer factorized at each rank, not fine-tuned: parameters,
    bytes, MACs, validation and test accuracy per rank, and the teacher's own (cached)."""
    profile = config.get_profile(profile)

    def compute() -> dict:
        teacher = train.cached_teacher(profile, "cpu")
        full = min(low_rank.weight_matrix(teacher[LAYER]).shape)  # a narrower teacher's layer has a lower full rank
        return {"teacher": _row(teacher, profile),
                "ranks": [{"rank": r, **_row(low_rank.low_rank(teacher, {LAYER: r}), profile)} for r in ranks if r <= full]}

    return cache.cached_result("low-rank-sweep", train.teacher_key(profile, layer=LAYER, ranks=list(ranks)), compute)


def finetuned(profile: config.Profile | str | None = None, rank: int = 16, lr: float = 0.01,
              images: int = FINETUNE_IMAGES, device: torch.device | str | None = None,
              progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher with its first fully connected layer factorized to ``rank`` and the whole model then fine-tuned
    for one pass over ``images`` training images (a balanced, fixed subset). Cached: weights and its row."""
    profile = config.get_profile(profile)
    teacher = train.cached_teacher(profile, "cpu")

    def compute(model: nn.Module) -> dict:
        train_images, train_labels = data.load_profile_split("fashion-mnist", "train", profile)
        subset = data.subset(train_images, train_labels, images, seed=0)
        history = train.fit(model, subset, epochs=profile.epochs(1), lr=lr, seed=0, device=device,
                            augmentation=profile.augments, progress=progress, description=f"rank {rank}, fine-tuning")
        model.cpu().eval()
        return {"rank": rank, **_row(model, profile), "seconds": history.seconds}

    settings = train.teacher_key(profile, layer=LAYER, rank=rank, lr=lr, images=images)
    model, result = cache.cached_model("low-rank-finetuned", settings, low_rank.low_rank(teacher, {LAYER: rank}), compute)
    return model.eval(), result


def chosen_rank(profile: config.Profile | str | None = None, progress: bool = True) -> int:
    """The smallest of FINETUNED_RANKS whose fine-tuned model is within half a point of the teacher on the
    validation images (the largest if none is): chosen on validation, reported on test."""
    measured = sweep(profile)
    baseline, swept = measured["teacher"]["validation_accuracy"], {row["rank"] for row in measured["ranks"]}
    ranks = [rank for rank in FINETUNED_RANKS if rank in swept]
    for rank in ranks:
        if finetuned(profile, rank, progress=progress)[1]["validation_accuracy"] >= baseline - WITHIN:
            return rank
    return ranks[-1]


def singular_values(profile: config.Profile | str | None = None) -> torch.Tensor:
    """The singular values of the teacher's first fully connected layer."""
    return low_rank.singular_values(train.cached_teacher(profile, "cpu")[LAYER])

