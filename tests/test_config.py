"""kdviz.config: profiles, seeding, device choice, folders, the set-up call."""
from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch

from kdviz import config


def test_profile_from_environment_and_argument(monkeypatch):
    monkeypatch.setenv("KDVIZ_PROFILE", "quick")
    assert config.get_profile().name == "quick"
    assert config.get_profile("FULL").name == "full"
    monkeypatch.delenv("KDVIZ_PROFILE")
    assert config.get_profile().name == "full"


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match=r"profile must be one of \['full', 'quick'\], got 'fast'"):
        config.get_profile("fast")


def test_quick_caps_epochs_and_sizes():
    quick, full = config.get_profile("quick"), config.get_profile("full")
    assert quick.epochs(15) == 2 and full.epochs(15) == 15 and quick.epochs(1) == 1
    assert quick.train_size < 60_000 and full.train_size is None


def test_profiles_list_the_same_knobs_and_differ_in_fingerprint():
    quick, full = config.get_profile("quick"), config.get_profile("full")
    assert len(full.sparsities) > len(quick.sparsities) and full.saliency_images > quick.saliency_images
    assert quick.fingerprint(*config.TRAINING_FIELDS) != full.fingerprint(*config.TRAINING_FIELDS)
    assert quick.fingerprint("qat_bits") == full.fingerprint("qat_bits")  # the same values in both
    changed = replace(quick, saliency_images=quick.saliency_images + 1)
    assert changed.fingerprint("saliency_images") != quick.fingerprint("saliency_images")
    assert changed.fingerprint(*config.TRAINING_FIELDS) == quick.fingerprint(*config.TRAINING_FIELDS)
    with pytest.raises(ValueError, match=r"fields must be fields of Profile, got unknown \['saliency'\]"):
        quick.fingerprint("saliency")


def test_an_unset_field_outside_the_training_fields_leaves_a_key_as_it_was():
    quick, full = config.get_profile("quick"), config.get_profile("full")
    assert full.student_train_size is None and full.fingerprint("saliency_images", "student_train_size") \
        == full.fingerprint("saliency_images")  # the full profile's cached runs keep their keys
    assert quick.fingerprint("saliency_images", "student_train_size") != quick.fingerprint("saliency_images")
    no_cap = replace(quick, max_epochs=None)  # a training field is hashed even when None
    assert no_cap.fingerprint(*config.TRAINING_FIELDS) != quick.fingerprint(*config.TRAINING_FIELDS)


def test_quick_trains_its_teacher_and_students_on_more_images_than_its_other_runs_and_never_augments():
    quick, full = config.get_profile("quick"), config.get_profile("full")
    assert quick.reference_train_size > quick.student_train_size > quick.train_size
    assert quick.for_students().train_size == quick.student_train_size and full.for_students() is full
    assert not quick.augments and full.augments


ROOT = Path(config.__file__).parents[1]
SOURCES = [*ROOT.glob("kdviz/*.py"), *ROOT.glob("scripts/*.py"), *ROOT.glob("benchmarks/*.py"), *ROOT.glob("notebooks/*.ipynb")]


def test_nothing_branches_on_a_profile_name():
    for path in SOURCES:
        text = path.read_text()
        assert '== "full"' not in text and '== "quick"' not in text and "profile.name ==" not in text, path.name


def test_every_knob_of_a_profile_is_read_somewhere():
    text = "\n".join(path.read_text() for path in SOURCES)  # fields are declared without a dot, read with one
    unread = [f.name for f in fields(config.Profile) if f.name != "name" and f".{f.name}" not in text]
    assert not unread, f"profile fields nothing reads: {unread}"


def test_seed_everything_repeats_random_draws():
    config.seed_everything(7)
    first = torch.rand(3)
    config.seed_everything(7)
    assert torch.equal(first, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        config.seed_everything(-1)


def test_device_is_automatic_and_overridable(monkeypatch):
    monkeypatch.delenv("KDVIZ_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else None
    device = config.pick_device()
    assert device.type in ("cuda", "mps", "cpu")
    if expected:
        assert device.type == expected
    monkeypatch.setenv("KDVIZ_DEVICE", "cpu")
    assert config.pick_device() == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be"):
        config.pick_device("tpu9")


@pytest.mark.parametrize("name", ["cuda:7", "xpu", "meta", "cpu:3"] + ([] if torch.cuda.is_available() else ["cuda", "mps"]))
def test_a_device_this_machine_lacks_is_refused_by_name(monkeypatch, name):
    if name == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    monkeypatch.setenv("KDVIZ_DEVICE", name)
    with pytest.raises(ValueError, match=rf"device must be one of \['cpu'.*got '{name}' \(from KDVIZ_DEVICE\)"):
        config.pick_device()


def test_folders_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("KDVIZ_DATA", str(tmp_path / "d"))
    (tmp_path / "d").mkdir()
    assert config.home_dir() == tmp_path / "h" and config.shared_data_dir() == tmp_path / "d"
    monkeypatch.delenv("KDVIZ_HOME")
    monkeypatch.delenv("KDVIZ_DATA")
    assert config.home_dir().parts[-2:] == (".cache", "kdviz") and config.shared_data_dir() is None


def test_a_misspelt_shared_data_folder_is_named_not_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_DATA", str(tmp_path / "prepard"))
    with pytest.raises(ValueError, match="KDVIZ_DATA must name an existing folder, got '.*prepard'"):
        config.shared_data_dir()
