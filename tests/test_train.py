"""kdviz.train: fit learns, evaluate is right, the checkpoint cache is keyed, atomic and safe to load."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from conftest import striped_images, write_fake_dataset
from kdviz import config, data, models, train


def test_fit_learns_and_records_history():
    torch.manual_seed(0)
    model = models.build("mlp", hidden=32)
    history = train.fit(model, striped_images(), striped_images(seed=1), epochs=3, lr=0.1, batch_size=50,
                        device="cpu", progress=False)
    assert [r["epoch"] for r in history.records] == [1, 2, 3]
    assert history.records[-1]["train_loss"] < history.records[0]["train_loss"]
    assert history.final_test_accuracy > 0.9
    assert history.seconds > 0 and not model.training


def test_evaluate_matches_a_hand_count():
    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.dummy = nn.Parameter(torch.zeros(()))

        def forward(self, x):  # always predicts class 0
            return torch.zeros(len(x), 10).index_fill_(1, torch.tensor([0]), 5.0) + self.dummy

    images, labels = striped_images(100)
    result = train.evaluate(Fixed(), images, labels, device="cpu")
    assert result.accuracy == pytest.approx((labels == 0).float().mean().item())
    expected_loss = nn.functional.cross_entropy(torch.zeros(100, 10).index_fill_(1, torch.tensor([0]), 5.0), labels)
    assert result.loss == pytest.approx(expected_loss.item(), rel=1e-5)


def test_predictions_run_channels_last_and_hand_the_model_back_as_it_came():
    model = models.build("teacher").eval()
    images = torch.randint(0, 256, (40, 28, 28), dtype=torch.uint8)
    with torch.no_grad():
        reference = model(data.normalize(images))  # in the layout it came in
    logits = train.predict_logits(model, images)
    torch.testing.assert_close(logits, reference, rtol=1e-4, atol=1e-4)
    assert all(p.is_contiguous() for p in model.parameters())
    model.to(memory_format=torch.channels_last)  # as fit holds it while it evaluates each epoch
    train.predict_logits(model, images)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_bad_fit_arguments_are_named():
    model = models.build("mlp")
    with pytest.raises(ValueError, match="epochs"):
        train.fit(model, striped_images(), epochs=0, lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        train.fit(model, striped_images(), epochs=1, lr=0)
    with pytest.raises(ValueError, match="name must be one of"):
        train.load_or_train("giant")


def test_checkpoint_is_written_atomically_and_loaded_weights_only(tmp_path, monkeypatch):
    model = models.build("mlp")
    history = train.History([{"epoch": 1, "train_loss": 1.0, "seconds": 0.5}])
    path = tmp_path / "c" / "mlp.pt"
    train.save_checkpoint(path, model, history, {"name": "mlp"})
    assert [p.name for p in path.parent.iterdir()] == ["mlp.pt"]  # no temporary file left behind
    calls = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or original(*a, **k))
    clone = models.build("mlp")
    loaded_history, meta = train.load_checkpoint(path, clone)
    assert calls[0]["weights_only"] is True
    assert loaded_history.records == history.records and meta == {"name": "mlp"}
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values()))


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        train.save_checkpoint(tmp_path / "x.pt", models.build("mlp"), train.History(), {})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_mlp_recipe(monkeypatch, isolated_home):
    write_fake_dataset(isolated_home / "data" / "fashion-mnist", counts=(60_000, 10_000))
    monkeypatch.setitem(train.RECIPES, "mlp", train.Recipe(epochs=1, lr=0.05, augmentation=False,
                                                           dataset="mnist", model_kwargs={"hidden": 8}))
    write_fake_dataset(isolated_home / "data" / "mnist")
    monkeypatch.setitem(config.PROFILES, "quick", replace(config.PROFILES["quick"], train_size=200, test_size=100, max_epochs=1,
                                                          reference_train_size=None, student_train_size=None,
                                                          latency_min_run_time=0.01, latency_repeats=2))


def test_load_or_train_trains_once_then_loads(tiny_mlp_recipe, isolated_home):
    first, history = train.load_or_train("mlp", seed=1, profile="quick", device="cpu", progress=False)
    files = list((isolated_home / "checkpoints").glob("mlp-quick-*-seed1-*.pt"))
    assert len(files) == 1 and len(history.records) == 1
    second, again = train.load_or_train("mlp", seed=1, profile="quick", device="cpu", progress=False)
    assert again.records == history.records
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    train.load_or_train("mlp", seed=2, profile="quick", device="cpu", progress=False)
    assert len(list((isolated_home / "checkpoints").glob("mlp-quick-*.pt"))) == 2  # keyed by seed


def test_damaged_checkpoint_is_retrained_with_a_warning(tiny_mlp_recipe, isolated_home):
    train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    path = next((isolated_home / "checkpoints").glob("mlp-quick-*-seed0-*.pt"))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(UserWarning, match="unreadable"):
        train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    train.load_checkpoint(path, models.build("mlp", hidden=8))  # rewritten whole


def test_a_checkpoint_of_the_wrong_shapes_is_retrained_from_a_fresh_start(tiny_mlp_recipe, isolated_home):
    clean, _ = train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    path = next((isolated_home / "checkpoints").glob("mlp-quick-*-seed0-*.pt"))
    payload = torch.load(path, weights_only=True)
    first = next(iter(payload["state_dict"]))
    payload["state_dict"] = {first: payload["state_dict"][first] + 1.0}  # loads one tensor, then fails
    torch.save(payload, path)
    with pytest.warns(UserWarning, match="unreadable"):
        again, _ = train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    for (name, a), (_, b) in zip(clean.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name  # the same as training from the seed, not from the damaged weights


def test_prepared_checkpoints_are_read_from_kdviz_data(tiny_mlp_recipe, isolated_home, tmp_path, monkeypatch):
    model, _ = train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    shared = tmp_path / "shared"
    shared.mkdir()
    (isolated_home / "checkpoints").rename(shared / "checkpoints")
    shared.chmod(0o555)
    monkeypatch.setenv("KDVIZ_DATA", str(shared))
    loaded, _ = train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    assert not (isolated_home / "checkpoints").exists()  # nothing was trained again


def test_recipe_change_changes_the_key():
    assert train.Recipe(epochs=1, lr=0.1).fingerprint() != train.Recipe(epochs=2, lr=0.1).fingerprint()
    assert train.Recipe(epochs=1, lr=0.1, train_size=100).fingerprint() != train.Recipe(epochs=1, lr=0.1).fingerprint()


def test_the_full_profile_trains_every_recipe_as_written():
    full = config.get_profile("full")
    for name, recipe in train.RECIPES.items():
        assert train.recipe_for(name, full) == recipe  # and so its checkpoints keep their names


def test_quick_trains_the_reference_models_on_more_images_and_the_small_ones_whole():
    quick = config.get_profile("quick")
    teacher, twin = train.recipe_for("teacher", quick), train.recipe_for("teacher", quick, epochs=5)
    assert teacher.train_size == quick.reference_train_size and teacher.epochs == quick.max_epochs
    assert twin.train_size is None and twin.epochs == quick.max_epochs  # notebook 01's twins: the profile's images
    assert not teacher.augmentation and train.RECIPES["teacher"].augmentation
    for name in train.UNCAPPED:
        assert train.recipe_for(name, quick).epochs == train.RECIPES[name].epochs > quick.max_epochs


def test_load_or_train_trains_on_the_recipe_s_images(tiny_mlp_recipe, isolated_home, monkeypatch):
    monkeypatch.setitem(config.PROFILES, "quick", replace(config.get_profile("quick"), reference_train_size=150))
    sizes = []
    monkeypatch.setattr(train, "fit", lambda model, split, *a, **k: sizes.append(len(split[1])) or train.History([]))
    train.load_or_train("mlp", profile="quick", device="cpu", progress=False)  # its own recipe: the reference images
    train.load_or_train("mlp", profile="quick", device="cpu", progress=False, epochs=1)  # another: the profile's
    assert sizes == [150, config.get_profile("quick").train_size]


def test_a_changed_training_field_never_loads_the_old_checkpoint(tiny_mlp_recipe, isolated_home, monkeypatch):
    train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    bigger = replace(config.get_profile("quick"), train_size=300)
    fits = []
    monkeypatch.setattr(train, "fit", lambda *a, **k: fits.append(k["epochs"]) or train.History([{"seconds": 0.0}]))
    train.load_or_train("mlp", profile=bigger, device="cpu", progress=False)
    assert fits == [1]  # trained again, not loaded
    assert len(list((isolated_home / "checkpoints").glob("mlp-quick-*-seed0-*.pt"))) == 2
    train.load_or_train("mlp", profile="quick", device="cpu", progress=False)
    assert fits == [1]  # the original is still found under its own key
