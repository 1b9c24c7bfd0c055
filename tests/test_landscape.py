"""kdviz.landscape: torchvision's shipped metadata, read without downloading anything."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kdviz import landscape


def test_records_come_from_torchvision_metadata():
    records = {r["name"]: r for r in landscape.imagenet_classifiers()}
    assert len(records) >= 50
    resnet = records["resnet50"]
    assert resnet["weights"] == "IMAGENET1K_V1" and resnet["top1"] == 76.13 and resnet["params"] == 25_557_032
    assert records["alexnet"]["gmacs"] < records["vgg16"]["gmacs"]
    assert all(0 < r["top1"] < 100 and r["gmacs"] > 0 for r in records.values())


def test_families_and_groups():
    assert landscape.family("resnet50") == "resnet" and landscape.family("wide_resnet50_2") == "resnet"
    assert landscape.family("mobilenet_v3_small") == "mobilenet"
    assert landscape.group("mobilenet") == "mobile nets" and landscape.group("unknownnet") == "other"
    assert all(landscape.group(r["family"]) != "other" for r in landscape.imagenet_classifiers())


def test_build_classifiers_gives_untrained_models_by_name():
    built = landscape.build_classifiers(["squeezenet1_1"])
    assert list(built) == ["squeezenet1_1"] and not built["squeezenet1_1"].training
    with pytest.raises(ValueError, match="torchvision classifiers.*'resnet_9000'"):
        landscape.build_classifiers(["resnet_9000"])


def test_torchvisions_ops_are_multiply_accumulates_as_the_flop_counter_counts_them():
    records = {r["name"]: r for r in landscape.imagenet_classifiers()}
    model = landscape.build_classifiers(["resnet18"])["resnet18"]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    measured_gmacs = counter.get_total_flops() / 2 / 1e9  # PyTorch counts a multiply-add as two FLOPs
    assert records["resnet18"]["gmacs"] == pytest.approx(measured_gmacs, rel=0.02)  # 1.81


def test_weights_pretrained_on_extra_data_are_marked():
    records = landscape.imagenet_classifiers()
    extra = {r["name"] for r in records if r["extra_data"]}
    assert extra and all("SWAG" in r["weights"] for r in records if r["extra_data"])
    assert "resnet50" not in extra and not any("SWAG" in r["weights"] for r in records if not r["extra_data"])
