"""kdviz.tensorboard_log: training histories as TensorBoard event files, read back with TensorBoard's own reader."""
from __future__ import annotations

import sys

import pytest
import torch

from conftest import striped_images
from kdviz import models, tensorboard_log, train

event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

RECORDS = [{"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.6, "test_loss": 0.8, "test_accuracy": 0.65, "seconds": 2.0},
           {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8, "seconds": 1.5},  # not evaluated this epoch
           {"epoch": 3, "train_loss": 0.4, "train_accuracy": 0.85, "test_loss": 0.45, "test_accuracy": 0.83, "seconds": 1.5}]


def read_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    accumulator = event_accumulator.EventAccumulator(str(folder))
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def test_a_history_reads_back_as_written(tmp_path):
    folder = tensorboard_log.write_history(RECORDS, "00 teacher, seed 0", tmp_path)
    assert folder.parent == tmp_path and folder.name == "00_teacher_seed_0"
    scalars = read_scalars(folder)
    assert set(scalars) == set(tensorboard_log.TAGS.values())
    for key, tag in tensorboard_log.TAGS.items():
        expected = [(r["epoch"], r[key]) for r in RECORDS if key in r]
        assert [step for step, _ in scalars[tag]] == [step for step, _ in expected]
        assert [value for _, value in scalars[tag]] == pytest.approx([value for _, value in expected], rel=1e-6)


def test_writing_again_replaces_the_run(tmp_path):
    tensorboard_log.write_history(RECORDS, "run", tmp_path)
    folder = tensorboard_log.write_history(RECORDS[:1], "run", tmp_path)
    assert len(list(folder.glob("events.out.tfevents.*"))) == 1
    assert read_scalars(folder)["loss/train"] == [(1, pytest.approx(0.9))]


def test_the_switch(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_HOME", str(tmp_path / "home"))
    for off in (None, "", "0", "off"):
        if off is None:
            monkeypatch.delenv(tensorboard_log.VARIABLE, raising=False)
        else:
            monkeypatch.setenv(tensorboard_log.VARIABLE, off)
        assert tensorboard_log.folder() is None and tensorboard_log.live_writer("x") is None
    monkeypatch.setenv(tensorboard_log.VARIABLE, "1")
    assert tensorboard_log.folder() == tmp_path / "home" / "tensorboard"
    monkeypatch.setenv(tensorboard_log.VARIABLE, str(tmp_path / "logs"))
    assert tensorboard_log.folder() == tmp_path / "logs"
    (tmp_path / "a file").write_text("")
    monkeypatch.setenv(tensorboard_log.VARIABLE, str(tmp_path / "a file"))
    with pytest.raises(ValueError, match="KDVIZ_TENSORBOARD must be 1, 0 or a folder"):
        tensorboard_log.folder()


def test_fit_writes_each_epoch_only_when_switched_on(monkeypatch, tmp_path):
    images, labels = striped_images(256)
    monkeypatch.delenv(tensorboard_log.VARIABLE, raising=False)
    monkeypatch.setenv("KDVIZ_HOME", str(tmp_path / "home"))
    train.fit(models.build("mlp", hidden=8), (images, labels), (images, labels), epochs=1, lr=0.1, progress=False)
    assert not (tmp_path / "home" / "tensorboard").exists()
    monkeypatch.setenv(tensorboard_log.VARIABLE, str(tmp_path / "logs"))
    torch.manual_seed(0)
    history = train.fit(models.build("mlp", hidden=8), (images, labels), (images, labels), epochs=2, lr=0.1,
                        progress=False, description="tiny mlp")
    runs = list((tmp_path / "logs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("tiny_mlp_")
    scalars = read_scalars(runs[0])
    assert [value for _, value in scalars["accuracy/test"]] == pytest.approx(history.column("test_accuracy"), rel=1e-6)


def test_bad_input_and_a_missing_package(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="records must be a non-empty list"):
        tensorboard_log.write_history([], "run", tmp_path)
    with pytest.raises(ValueError, match="records must be a non-empty list"):
        tensorboard_log.write_history([{"train_loss": 1.0}], "run", tmp_path)
    with pytest.raises(ValueError, match="run must be a non-empty name"):
        tensorboard_log.write_history(RECORDS, " ", tmp_path)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if TensorBoard were not installed
    with pytest.raises(ModuleNotFoundError, match="pip install tensorboard"):
        tensorboard_log.write_history(RECORDS, "run", tmp_path)


def test_paths_are_shown_from_the_home_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tensorboard_log.shown(tmp_path / "a" / "b") == "~/a/b"
    assert tensorboard_log.shown(tmp_path.parent / "elsewhere") == (tmp_path.parent / "elsewhere").as_posix()
    assert tensorboard_log.shown(tmp_path.parent / (tmp_path.name + "x")) == (tmp_path.parent / (tmp_path.name + "x")).as_posix()
