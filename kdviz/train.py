"""Fit and evaluate with progress bars, per-epoch history, and the checkpoint cache (introduced in 00)."""
from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from kdviz import cache, config, data, models, tensorboard_log

Split = tuple[torch.Tensor, torch.Tensor]  # (uint8 images (N, 28, 28), int64 labels (N,))


class Evaluation(NamedTuple):
    loss: float
    accuracy: float  # fraction in [0, 1]


@dataclass
class History:
    """One record per epoch: epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds."""

    records: list[dict] = field(default_factory=list)

    def column(self, key: str) -> list[float]:
        return [record[key] for record in self.records]

    @property
    def final_test_accuracy(self) -> float | None:
        return self.records[-1].get("test_accuracy") if self.records else None

    @property
    def seconds(self) -> float:
        return float(sum(self.column("seconds")))


@torch.no_grad()
def predict_logits(model: nn.Module, images: torch.Tensor, *, batch_size: int = 256,
                   device: torch.device | str | None = None, name: str = "fashion-mnist") -> torch.Tensor:
    """The model's logits (N, classes) for uint8 images, on the CPU."""
    device = torch.device(device) if device is not None else models.device_of(model)
    was_training = model.training
    model.eval().to(device)
    dummy_labels = torch.zeros(len(images), dtype=torch.long)
    switched = _to_channels_last(model)
    try:
        outputs = [model(x).float().cpu()
                   for x, _ in data.batches(images, dummy_labels, batch_size, device=device, name=name)]
    finally:
        if switched:
            model.to(memory_format=torch.contiguous_format)
        model.train(was_training)
    return torch.cat(outputs)


def _to_channels_last(model: nn.Module) -> bool:
    """Switch a float convolutional model to the channels-last memory format, as :func:`fit` trains it (the
    teacher's forward passes: 1.6 times the images per second here); whether it was switched. A quantized model,
    one without convolutions, or one that is channels-last already is left as it is."""
    convolutions = [module for module in model.modules() if isinstance(module, nn.Conv2d)]
    if not convolutions or not all(tensor.is_floating_point() for tensor in model.parameters()):
        return False
    if all(conv.weight.is_contiguous(memory_format=torch.channels_last) for conv in convolutions):
        return False
    model.to(memory_format=torch.channels_last)
    return True


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 256,
             device: torch.device | str | None = None, name: str = "fashion-mnist") -> Evaluation:
    """Mean cross-entropy and accuracy of a model on uint8 images and their labels."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"images and labels must be non-empty and of equal length, got {len(images)} and {len(labels)}")
    logits = predict_logits(model, images, batch_size=batch_size, device=device, name=name)
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    return Evaluation(loss, accuracy)


def fit(model: nn.Module, train: Split, test: Split | None = None, *, epochs: int, lr: float,
        batch_size: int = 128, weight_decay: float = 5e-4, augmentation: bool = False, seed: int = 0,
        device: torch.device | str | None = None, name: str = "fashion-mnist", progress: bool = True,
        description: str = "training", extra: torch.Tensor | None = None, evaluate_every: int = 1,
        loss_fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor] | None = None) -> History:
    """Train with SGD (Nesterov momentum) and a one-cycle learning rate; evaluate on ``test`` after each epoch.
    Convolutional models train in the channels-last memory format and are handed back in the usual one.

    By default the loss is cross-entropy; ``loss_fn(logits, labels, extra_batch)`` replaces it, with ``extra`` a
    tensor of one row per training image (a teacher's logits, for distillation). Labels of -1 mark unlabelled
    images: they are left out of the training accuracy. ``test`` is evaluated every ``evaluate_every`` epochs
    and after the last.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    if extra is not None and augmentation:
        raise ValueError("augmentation must be False when extra is given: the rows of extra (e.g. a teacher's "
                         "logits) belong to the original images, not to flipped or shifted ones")
    device = torch.device(device) if device is not None else config.pick_device()
    images, labels = train
    steps_per_epoch = -(-len(labels) // batch_size)
    model.to(device)
    convolutional = any(isinstance(module, nn.Conv2d) for module in model.modules())
    if convolutional:  # channels-last activations: 1.3 to 1.7 times the images per second here (benchmarks/)
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    labelled = int((labels >= 0).sum())
    history = History()
    bar = tqdm(total=epochs * steps_per_epoch, desc=description, disable=not progress, unit="batch")
    events = tensorboard_log.live_writer(description)  # None unless KDVIZ_TENSORBOARD is on
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            started = time.perf_counter()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device)
            for x, y, *rest in data.batches(images, labels, batch_size, shuffle=True, generator=generator,
                                            augmentation=augmentation, device=device, name=name, extra=extra):
                logits = model(x)
                loss = loss_fn(logits, y, rest[0] if rest else None) if loss_fn else nn.functional.cross_entropy(logits, y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
                loss_sum += loss.detach() * len(y)
                correct += (logits.detach().argmax(1) == y).sum()
                bar.update()
            record = {"epoch": epoch, "train_loss": loss_sum.item() / len(labels),
                      "train_accuracy": correct.item() / max(labelled, 1)}
            if test is not None and (epoch % evaluate_every == 0 or epoch == epochs):
                result = evaluate(model, *test, device=device, name=name)
                record.update(test_loss=result.loss, test_accuracy=result.accuracy)
            record["seconds"] = time.perf_counter() - started
            history.records.append(record)
            if events is not None:
                tensorboard_log.write_record(events, record)
                events.flush()
            bar.set_postfix({k: f"{v:.3f}" for k, v in record.items() if k.endswith("accuracy")}, refresh=True)
    finally:
        bar.close()
        if events is not None:
            events.close()
    if convolutional:  # hand back the usual layout: later surgery may reshape the weights
        model.to(memory_format=torch.contiguous_format)
    model.eval()
    return history


@dataclass(frozen=True)
class Recipe:
    """How a zoo model is trained; ``epochs`` is the full profile's, capped by the quick one."""

    epochs: int
    lr: float
    batch_size: int = 128
    weight_decay: float = 5e-4
    augmentation: bool = True
    dataset: str = "fashion-mnist"
    model_kwargs: dict = field(default_factory=dict)
    train_size: int | None = None  # training images (None: the profile's train_size)

    def fingerprint(self) -> str:
        """A short hash, so a changed recipe never loads an old checkpoint. Fields at None are left out, so that a
        field added with a None default keeps every earlier recipe's hash."""
        fields = {key: value for key, value in asdict(self).items() if value is not None}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]


RECIPES: dict[str, Recipe] = {
    "teacher": Recipe(epochs=15, lr=0.1),
    "separable_cnn": Recipe(epochs=15, lr=0.1),  # the teacher's twins (notebook 01): the teacher's own recipe
    "fire_cnn": Recipe(epochs=15, lr=0.1),
    "mlp": Recipe(epochs=10, lr=0.05, weight_decay=1e-4, augmentation=False),
    "tiny_mlp": Recipe(epochs=10, lr=0.1, weight_decay=1e-4, augmentation=False),  # exact-Hessian OBD (02)
    "lenet_300_100": Recipe(epochs=20, lr=0.05, weight_decay=1e-4, augmentation=False),  # Deep Compression (05)
}
UNCAPPED = ("mlp", "tiny_mlp", "lenet_300_100")  # recipes cheap enough to run whole in every profile: OBD's tiny net must converge


def recipe_for(name: str, profile: config.Profile, epochs: int | None = None) -> Recipe:
    """The recipe ``name`` is trained with in ``profile``: its own, on the profile's ``reference_train_size``
    images, or with ``epochs`` instead of its epochs (notebook 01 trains the teacher and its twins alike on a shorter
    one) on its ``train_size``; epochs capped (except an :data:`UNCAPPED` recipe's own), and augmentation kept, as
    the profile says."""
    if name not in RECIPES:
        raise ValueError(f"name must be one of {sorted(RECIPES)}, got {name!r}")
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0):
        raise ValueError(f"epochs must be a positive integer or None (the recipe's own), got {epochs!r}")
    recipe = RECIPES[name]
    whole = epochs is None and name in UNCAPPED
    return replace(recipe, epochs=recipe.epochs if whole else profile.epochs(recipe.epochs if epochs is None else epochs),
                   augmentation=recipe.augmentation and profile.augments,
                   train_size=profile.reference_train_size if epochs is None else None)


def checkpoint_name(name: str, profile: config.Profile, seed: int, epochs: int | None = None) -> str:
    """The file a zoo model is cached in: model, profile (its name and the fingerprint of the fields training
    depends on), seed and the recipe it is trained with, so a changed profile or recipe never loads an old
    checkpoint, and two requests that train alike share one."""
    training = profile.fingerprint(*config.TRAINING_FIELDS)
    return f"{name}-{profile.name}-{training}-seed{seed}-{recipe_for(name, profile, epochs).fingerprint()}.pt"


def checkpoint_folders() -> list[Path]:
    """Read-only prepared checkpoints under KDVIZ_DATA first, then the writable cache under KDVIZ_HOME."""
    return cache.folders("checkpoints")


def save_checkpoint(path: Path, model: nn.Module, history: History, meta: dict) -> None:
    """Write a checkpoint atomically: a temporary file in the same folder, then a rename."""
    payload = {"state_dict": model.state_dict(), "history": history.records, "meta": meta}
    cache.atomic_write(path, lambda stream: torch.save(payload, stream))


def load_checkpoint(path: Path, model: nn.Module) -> tuple[History, dict]:
    """Load weights into ``model`` (``weights_only=True``); return the history and metadata."""
    payload = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(payload["state_dict"])
    return History(list(payload["history"])), dict(payload["meta"])


def load_or_train(name: str, seed: int = 0, *, profile: config.Profile | str | None = None,
                  device: torch.device | str | None = None, retrain: bool = False, epochs: int | None = None,
                  progress: bool = True) -> tuple[nn.Module, History]:
    """A trained zoo model from the cache (keyed by model, profile, seed and recipe), trained now if missing;
    ``epochs`` replaces the recipe's epochs (see :func:`recipe_for`)."""
    profile = config.get_profile(profile)
    recipe = recipe_for(name, profile, epochs)
    config.seed_everything(seed)
    model = models.build(name, **recipe.model_kwargs)
    filename = checkpoint_name(name, profile, seed, epochs)
    if not retrain:
        for folder in checkpoint_folders():
            path = folder / filename
            if path.is_file():
                try:
                    history, _ = load_checkpoint(path, model)
                    cache.record_use(path)
                    return model.to(device or config.pick_device()).eval(), history
                except Exception as error:  # a damaged cache file is retrained, never trusted
                    warnings.warn(f"checkpoint {path} is unreadable ({error}); training {name} again", stacklevel=2)
                    config.seed_everything(seed)  # a failed load may have filled some weights: start afresh
                    model = models.build(name, **recipe.model_kwargs)
    cache.validate_may_compute(f"the {name} model ({profile.name} profile, seed {seed})")
    images = profile if recipe.train_size is None else replace(profile, train_size=recipe.train_size)
    train = data.load_profile_split(recipe.dataset, "train", images, seed=0)
    test = data.load_profile_split(recipe.dataset, "test", profile, seed=0)
    history = fit(model, train, test, epochs=recipe.epochs, lr=recipe.lr,
                  batch_size=recipe.batch_size, weight_decay=recipe.weight_decay,
                  augmentation=recipe.augmentation, seed=seed, device=device, name=recipe.dataset,
                  progress=progress, description=f"{name} ({profile.name}, seed {seed}, {recipe.epochs} epochs)")
    meta = {"name": name, "profile": profile.name, "fingerprint": profile.fingerprint(*config.TRAINING_FIELDS),
            "seed": seed, "recipe": json.dumps(asdict(recipe)),
            "torch": str(torch.__version__)}
    target = config.home_dir() / "checkpoints" / filename
    save_checkpoint(target, model, history, meta)
    cache.record_use(target)
    return model, history


def cached_teacher(profile: config.Profile | str | None = None, device: torch.device | str | None = None) -> nn.Module:
    """The teacher of seed 0 that the experiments of notebooks 02 to 05 start from (cached, trained if missing)."""
    teacher, _ = load_or_train("teacher", seed=0, profile=profile, device=device)
    return teacher


def profile_key(profile: config.Profile | str | None = None, depends_on: tuple[str, ...] = (), **settings) -> dict:
    """Cache settings of a run: the profile's name, the fingerprint of the profile fields the run depends on (the
    training fields and ``depends_on``), and ``settings``."""
    profile = config.get_profile(profile)
    return {"profile": profile.name, "fingerprint": profile.fingerprint(*config.TRAINING_FIELDS, *depends_on),
            **settings}


def teacher_key(profile: config.Profile | str | None = None, depends_on: tuple[str, ...] = (), **settings) -> dict:
    """Cache settings of a run on the teacher: :func:`profile_key` with the teacher's checkpoint."""
    profile = config.get_profile(profile)
    return profile_key(profile, depends_on, teacher=checkpoint_name("teacher", profile, 0), **settings)
