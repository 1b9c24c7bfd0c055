"""kdviz.cache: atomic writes and the JSON result cache."""
from __future__ import annotations

import json
import os

import pytest
import torch
from torch import nn

from kdviz import cache


def test_atomic_write_leaves_nothing_half_written(tmp_path):
    os.umask(0o022)
    target = tmp_path / "a" / "file.bin"
    cache.atomic_write(target, lambda stream: stream.write(b"whole"))
    assert target.read_bytes() == b"whole"
    assert target.stat().st_mode & 0o444 == 0o444  # readable by everyone (umask 022 or 002)

    def fail_midway(stream):
        stream.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        cache.atomic_write(target, fail_midway)
    assert target.read_bytes() == b"whole" and [p.name for p in target.parent.iterdir()] == ["file.bin"]


def test_results_are_computed_once_per_settings(isolated_home):
    calls = []

    def compute():
        calls.append(1)
        return {"accuracy": 0.5}

    assert cache.cached_result("demo", {"a": 1}, compute) == {"accuracy": 0.5}
    assert cache.cached_result("demo", {"a": 1}, compute) == {"accuracy": 0.5}
    assert cache.cached_result("demo", {"a": 2}, compute) == {"accuracy": 0.5}
    assert len(calls) == 2 and len(list((isolated_home / "results").glob("demo-*.json"))) == 2


def test_damaged_result_is_recomputed(isolated_home):
    cache.cached_result("demo", {"a": 1}, lambda: {"x": 1})
    path = next((isolated_home / "results").glob("demo-*.json"))
    path.write_text("{not json")
    assert cache.cached_result("demo", {"a": 1}, lambda: {"x": 2}) == {"x": 2}
    assert json.loads(path.read_text())["result"] == {"x": 2}


def test_prepared_results_are_read_from_kdviz_data(isolated_home, tmp_path, monkeypatch):
    cache.cached_result("demo", {"a": 1}, lambda: {"x": 1})
    shared = tmp_path / "shared"
    shared.mkdir()
    (isolated_home / "results").rename(shared / "results")
    monkeypatch.setenv("KDVIZ_DATA", str(shared))
    assert cache.cached_result("demo", {"a": 1}, lambda: pytest.fail("recomputed")) == {"x": 1}


def test_cached_tensors_are_computed_once_and_recomputed_when_damaged(isolated_home):
    calls = []

    def compute():
        calls.append(1)
        return {"w": torch.arange(3.0)}

    first = cache.cached_tensors("demo", {"a": 1}, compute)
    second = cache.cached_tensors("demo", {"a": 1}, compute)
    assert torch.equal(first["w"], second["w"]) and len(calls) == 1
    (path,) = (isolated_home / "results").glob("demo-*.pt")
    path.write_bytes(b"not a torch file")
    assert torch.equal(cache.cached_tensors("demo", {"a": 1}, compute)["w"], torch.arange(3.0)) and len(calls) == 2


def test_cached_model_stores_weights_and_result_together():
    def compute(model):
        with torch.no_grad():
            model.weight.fill_(2.0)
        return {"accuracy": 0.5}

    model, result = cache.cached_model("demo-model", {"b": 2}, nn.Linear(2, 2), compute)
    assert result == {"accuracy": 0.5} and torch.all(model.weight == 2.0)
    again, result = cache.cached_model("demo-model", {"b": 2}, nn.Linear(2, 2), lambda m: 1 / 0)  # not recomputed
    assert result == {"accuracy": 0.5} and torch.all(again.weight == 2.0)
