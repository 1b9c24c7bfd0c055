"""kdviz.landscape: torchvision's shipped metadata, read without downloading anything."""
from __future__ import annotations

import pytest

from kdviz import landscape


def test_records_come_from_torchvision_metadata():
    records = {r["name"]: r for r in landscape.imagenet_classifiers()}
    assert len(records) >= 50
    resnet = records["resnet50"]
    assert resnet["weights"] == "IMAGENET1K_V1" and resnet["top1"] == 76.13 and resnet["params"] == 25_557_032
    assert records["alexnet"]["gflops"] < records["vgg16"]["gflops"]
    assert all(0 < r["top1"] < 100 and r["gflops"] > 0 for r in records.values())


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
