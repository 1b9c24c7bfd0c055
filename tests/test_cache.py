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
    with pytest.warns(UserWarning, match="is damaged"):
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
    with pytest.warns(UserWarning, match="is damaged"):
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


FAULTS = {"empty": b"", "garbage": b"\x00\xffnot a cache file", "truncated": None, "a list": b"[1, 2, 3]",
          "a number": b"42", "no result": b'{"settings": {"a": 1}}', "result not an object": b'{"settings": {"a": 1}, "result": 5}'}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_damaged_result_file_is_computed_again_with_one_warning(isolated_home, fault):
    cache.cached_result("demo", {"a": 1}, lambda: {"x": 1})
    (path,) = (isolated_home / "results").glob("demo-*.json")
    path.write_bytes(path.read_bytes()[:10] if FAULTS[fault] is None else FAULTS[fault])
    with pytest.warns(UserWarning, match=rf"cached file .*{path.name} is damaged") as caught:
        assert cache.cached_result("demo", {"a": 1}, lambda: {"x": 2}) == {"x": 2}
    assert len(caught) == 1 and json.loads(path.read_text())["result"] == {"x": 2}


MODEL_FAULTS = {"empty": b"", "garbage": b"PK\x03\x04 not really", "truncated": None,
                "no state_dict": {"result": "{}"}, "wrong shapes": {"state_dict": {"weight": torch.zeros(3, 3),
                                                                                 "bias": torch.zeros(3)},
                                                                  "result": "{}"},
                "not a dict": [torch.zeros(2)]}


@pytest.mark.parametrize("fault", list(MODEL_FAULTS))
def test_a_damaged_model_file_is_trained_again_with_one_warning(isolated_home, fault):
    def compute(model):
        with torch.no_grad():
            model.weight.fill_(2.0)
        return {"accuracy": 0.5}

    cache.cached_model("demo-model", {"b": 2}, nn.Linear(2, 2), compute)
    (path,) = (isolated_home / "results").glob("demo-model-*.pt")
    damage = MODEL_FAULTS[fault]
    if isinstance(damage, (dict, list)):
        torch.save(damage, path)
    else:
        path.write_bytes(path.read_bytes()[:40] if damage is None else damage)
    with pytest.warns(UserWarning, match="is damaged") as caught:
        model, result = cache.cached_model("demo-model", {"b": 2}, nn.Linear(2, 2), compute)
    assert len(caught) == 1 and result == {"accuracy": 0.5} and torch.all(model.weight == 2.0)


def test_a_killed_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    cache.atomic_write(target, lambda stream: stream.write(b"old"))

    def killed(stream):
        stream.write(b"new, half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.atomic_write(target, killed)
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_home_is_said_before_the_work_starts(isolated_home):
    isolated_home.mkdir(parents=True, exist_ok=True)
    isolated_home.chmod(0o500)
    try:
        with pytest.raises(cache.HomeNotWritable, match="KDVIZ_HOME .* must be a folder kdviz can write"):
            cache.cached_result("demo", {"a": 1}, lambda: pytest.fail("computed before the home was checked"))
    finally:
        isolated_home.chmod(0o700)


def test_a_home_that_is_a_file_is_said_before_the_work_starts(isolated_home):
    isolated_home.parent.mkdir(parents=True, exist_ok=True)
    isolated_home.write_text("not a folder")
    with pytest.raises(cache.HomeNotWritable, match="KDVIZ_HOME .* must be a folder kdviz can write"):
        cache.cached_result("demo", {"a": 1}, lambda: pytest.fail("computed before the home was checked"))


def test_the_temporary_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    target = tmp_path / "result.json"
    orphan = tmp_path / f"result.json.{int(dead.stdout)}.abc123.tmp"  # as a SIGKILLed writer leaves it
    orphan.write_bytes(b"half")
    alive = tmp_path / f"result.json.{os.getpid()}.def456.tmp"  # a writer still at work: left alone
    alive.write_bytes(b"busy")
    cache.atomic_write(target, lambda stream: stream.write(b"whole"))
    assert not orphan.exists() and alive.exists() and target.read_bytes() == b"whole"
