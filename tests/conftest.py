"""Shared fixtures: an isolated KDVIZ_HOME, small IDX files made on the spot, the real data when present."""
from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from kdviz import config, data, models, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # solutions/, for the tests

REAL_MNIST = data.DATASETS["mnist"]


def unchecked(info: data.DatasetInfo) -> data.DatasetInfo:
    """A data set's description without its checksums, for fake files."""
    return replace(info, sha256={}, archive_md5={})


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test writes into its own KDVIZ_HOME and sees no KDVIZ_DATA or Debian folder unless it asks."""
    home = tmp_path / "home"
    monkeypatch.setenv("KDVIZ_HOME", str(home))
    monkeypatch.delenv("KDVIZ_DATA", raising=False)
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "no-debian")
    monkeypatch.setitem(data.DATASETS, "mnist", unchecked(REAL_MNIST))  # tests write fake MNIST files
    data._load_cached.cache_clear()
    yield home
    data._load_cached.cache_clear()


def idx_bytes(array: torch.Tensor) -> bytes:
    """An IDX file of unsigned bytes holding ``array``."""
    header = bytes([0, 0, 0x08, array.dim()]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.contiguous().numpy().tobytes()


def write_fake_dataset(folder: Path, counts=(60_000, 10_000), gz: bool = True, seed: int = 0,
                       learnable: bool = False) -> None:
    """Four IDX files with random images and labels, as the Debian package lays them out; ``learnable`` draws a
    bright row at height 2 * label into each image."""
    generator = torch.Generator().manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in zip(data.SPLITS, counts):
        images_stem, labels_stem = data._FILES[split]
        images = torch.randint(0, 60 if learnable else 256, (count, 28, 28), dtype=torch.uint8, generator=generator)
        labels = torch.arange(count, dtype=torch.uint8) % 10
        if learnable:
            images[torch.arange(count), 2 * labels.long()] = 255
        for stem, array in ((images_stem, images), (labels_stem, labels)):
            raw = idx_bytes(array)
            if gz:
                with gzip.open(folder / f"{stem}.gz", "wb", compresslevel=1) as handle:
                    handle.write(raw)
            else:
                (folder / stem).write_bytes(raw)


@pytest.fixture
def real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Fashion-MNIST from the Debian package folder; skipped where it is not installed."""
    debian = Path("/usr/share/datasets")
    if not (debian / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.setattr(data, "DEBIAN_DIR", debian)
    data._load_cached.cache_clear()


def striped_images(count: int = 400, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Noisy images whose class is a bright row at height 2 * label: learnable in a few steps."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(count) % 10
    images = torch.randint(0, 60, (count, 28, 28), generator=generator)
    images[torch.arange(count), 2 * labels] = 255
    return images.to(torch.uint8), labels


def small_trained_teacher(count: int = 300) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    """A width-8 teacher trained two epochs on ``count`` striped images (seed 0), in eval mode, with its images."""
    images, labels = striped_images(count)
    torch.manual_seed(0)
    model = models.build("teacher", width=8, hidden=32)
    train.fit(model, (images, labels), epochs=2, lr=0.05, progress=False)
    return model.eval(), images, labels


@pytest.fixture
def small_world(isolated_home, monkeypatch):
    """A tiny teacher recipe and a tiny quick profile over fake, learnable Fashion-MNIST files (checksums off)."""
    write_fake_dataset(isolated_home / "data" / "fashion-mnist", learnable=True)
    info = data.DATASETS["fashion-mnist"]
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", unchecked(info))
    monkeypatch.setitem(train.RECIPES, "teacher", train.Recipe(epochs=3, lr=0.1, batch_size=32, augmentation=False,
                                                               model_kwargs={"width": 4, "hidden": 16}))
    monkeypatch.setitem(config.PROFILES, "quick", replace(config.PROFILES["quick"], train_size=300, test_size=100,
                                                          reference_train_size=None, student_train_size=None,
                                                          max_epochs=3, latency_min_run_time=0.01, latency_repeats=2))
    return config.get_profile("quick")


def same_picture(first: bytes, second: bytes, tolerance: float = 1e-3) -> bool:
    """Two PNGs of one size that differ in at most ``tolerance`` of their pixels: a figure redrawn in place draws its
    moving artists last, so where one overlaps a still artist a few edge pixels may blend in another order."""
    a, b = (np.asarray(PIL.Image.open(io.BytesIO(bytes(png))).convert("RGB"), dtype=int) for png in (first, second))
    return a.shape == b.shape and (np.abs(a - b).max(axis=-1) > 0).mean() <= tolerance


@pytest.fixture(params=["matplotlib's style", "the workbook's style"])
def any_style(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run the test in matplotlib's default style and in the one the notebooks use (plots.use_style: a grid, large
    fonts), each undone afterwards."""
    import matplotlib

    from kdviz import plots

    with matplotlib.rc_context():
        if request.param == "the workbook's style":
            plots.use_style()
        yield
