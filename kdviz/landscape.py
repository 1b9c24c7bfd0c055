"""The ImageNet landscape: accuracy, compute and size of torchvision's classifiers, from the metadata its
weight enums ship (nothing is downloaded; introduced in 00)."""
from __future__ import annotations

import re

from torchvision import models


def family(name: str) -> str:
    """The architecture family of a torchvision model name: ``resnet50`` -> ``resnet``."""
    stem = re.split(r"[_\d]", name, maxsplit=1)[0]
    return {"wide": "resnet", "resnext": "resnet"}.get(stem, stem)


def imagenet_classifiers() -> list[dict]:
    """One record per torchvision ImageNet classifier: name, family, weights, top1 (%), gmacs, params, file_mb,
    extra_data.

    Uses each model's original ``IMAGENET1K_V1`` weights where they exist (the numbers of its paper), else
    the first weights listed. ``gmacs`` is torchvision's ``_ops``: billions of multiply-accumulates per image
    (one MAC is two FLOPs). ``extra_data`` marks weights pre-trained on 3.6 billion Instagram images before
    ImageNet (SWAG), at 384 to 518 pixels: not comparable with models that saw ImageNet alone.
    """
    records = []
    for name in models.list_models(module=models):
        weights = list(models.get_model_weights(name))
        chosen = next((w for w in weights if w.name == "IMAGENET1K_V1"), weights[0])
        meta = chosen.meta
        records.append({
            "name": name,
            "family": family(name),
            "weights": chosen.name,
            "top1": float(meta["_metrics"]["ImageNet-1K"]["acc@1"]),
            "gmacs": float(meta["_ops"]),
            "params": int(meta["num_params"]),
            "file_mb": float(meta["_file_size"]),
            "extra_data": "SWAG" in chosen.name,
        })
    return records


GROUPS = {
    "classic CNNs": ("alexnet", "vgg", "googlenet", "inception"),
    "ResNets and DenseNets": ("resnet", "densenet"),
    "mobile nets": ("mobilenet", "mnasnet", "shufflenet", "squeezenet", "efficientnet"),
    "RegNets": ("regnet",),
    "ConvNeXts": ("convnext",),
    "vision transformers": ("vit", "swin", "maxvit"),
}


def group(family_name: str) -> str:
    """The broad group a family belongs to (for colouring the chart with a few colour-blind-safe colours)."""
    for group_name, families in GROUPS.items():
        if family_name in families:
            return group_name
    return "other"


def build_classifiers(names: list[str]) -> dict:
    """Untrained torchvision classifiers by name, for timing (latency does not depend on the weights; introduced
    in 01)."""
    known = set(models.list_models(module=models))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"names must be torchvision classifiers such as 'resnet18' or 'mobilenet_v2', got {unknown}")
    return {name: models.get_model(name, weights=None).eval() for name in names}
