"""Every knob of a profile (quick, full), the seed, the device and the folders (introduced in 00)."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

PROFILE_VARIABLE = "KDVIZ_PROFILE"
HOME_VARIABLE = "KDVIZ_HOME"
DATA_VARIABLE = "KDVIZ_DATA"
DEVICE_VARIABLE = "KDVIZ_DEVICE"
LEDGER_VARIABLE = "KDVIZ_LEDGER"  # a file that lists every cached file used (python -m kdviz prepare --pack)


@dataclass(frozen=True)
class Profile:
    """Every knob of how much work the workbook does, in one object: ``quick`` for CI, Binder and slow laptops,
    ``full`` for the real results. A run's cache key holds :meth:`fingerprint` of the fields it depends on."""

    name: str
    # data and training (every trained model depends on these: TRAINING_FIELDS)
    train_size: int | None  # images used for training (None: all the training file's but the validation images)
    reference_train_size: int | None  # images the reference models (the teacher, 00's MLP and 02's tiny net, each
    # with its own recipe) train on, when more than train_size: quick's teacher must be good enough to teach
    student_train_size: int | None  # images the students (04, 05's pipelines and defences) train on, when more
    # than train_size: a student learns from many images cheaply, and "all labels" must be many labels
    validation_size: int  # training-file images held out for every choice (T and alpha, calibration, recipe)
    test_size: int | None  # images used for evaluation (None: all 10,000)
    max_epochs: int | None  # cap on every recipe's epochs (None: the recipe's own)
    # what the notebooks may claim: whether this profile judges the claims only the full one can (checks.full_profile_claim)
    judges_full_profile_claims: bool
    # measurement
    latency_min_run_time: float  # seconds each latency measurement runs for
    latency_repeats: int  # measurements per latency figure: their median is reported with their range
    # seeds
    seeds: tuple[int, ...]  # seeds of experiments that report a mean and a spread (04, 05)
    twin_seeds: tuple[int, ...]  # seeds of notebook 01's side-by-side comparison (the teacher and its twins)
    twin_epochs: int  # epochs of that comparison: the teacher and its twins trained alike, shorter than the teacher's
    # 02 pruning
    saliency_images: int  # training images the Hessian diagonal is estimated on
    hutchinson_probes: tuple[int, ...]  # probe counts of the Hutchinson convergence plot
    loss_fractions: tuple[float, ...]  # shares of weights deleted when predicted and measured loss are compared
    sparsities: tuple[float, ...]  # one-shot pruning curves
    sensitivity_sparsities: tuple[float, ...]  # one layer at a time
    pruning_schedule: tuple[float, ...]  # iterative pruning's steps
    # 03 quantization
    calibration_images: int  # training images the activation ranges are observed on
    weight_bits: tuple[int, ...]
    activation_bits: tuple[int, ...]
    qat_bits: tuple[int, ...]  # depths at which quantization-aware training is compared with post-training
    # 04 knowledge distillation
    sweep_temperatures: tuple[float, ...]  # the T x alpha sweep's cells
    sweep_alphas: tuple[float, ...]
    label_counts: tuple[int | None, ...]  # labelled images kept (None: all) in the few-labels curve
    # 05 better together
    attack_images: int  # test images the adversarial attacks are measured on
    attack_epsilons: tuple[float, ...]

    def epochs(self, recipe_epochs: int) -> int:
        """The epochs a recipe gets in this profile."""
        return recipe_epochs if self.max_epochs is None else min(recipe_epochs, self.max_epochs)

    @property
    def augments(self) -> bool:
        """Whether runs that augment (flips and shifts) do so: not when epochs are capped, as in quick. Augmentation
        pays off over many epochs; over quick's two it costs the teacher about two points of test accuracy."""
        return self.max_epochs is None

    def for_students(self) -> "Profile":
        """This profile as the students' runs read their training images: ``student_train_size`` of them, if set.
        Their cache keys name ``student_train_size`` (:data:`STUDENT_FIELDS`), not this profile's fingerprint."""
        return self if self.student_train_size is None else dataclasses.replace(self, train_size=self.student_train_size)

    def timing(self) -> dict:
        """The keyword arguments of every latency measurement (:func:`kdviz.measure.summary`, ``latencies``)."""
        return {"min_run_time": self.latency_min_run_time, "repeats": self.latency_repeats}

    def fingerprint(self, *fields: str) -> str:
        """A short hash of the named fields' values, so that a run cached under one setting of them is never read
        back under another. A field outside TRAINING_FIELDS is left out while None (unset), so that adding one
        keeps every earlier key."""
        unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ValueError(f"fields must be fields of Profile, got unknown {unknown}")
        values = {name: getattr(self, name) for name in sorted(set(fields))
                  if name in TRAINING_FIELDS or getattr(self, name) is not None}  # unset: keeps earlier keys
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:8]


FINETUNE_IMAGES = 15_000  # training images of one short fine-tuning pass (02's iterative steps, 01's low rank)
TRAINING_FIELDS = ("train_size", "validation_size", "test_size", "max_epochs")  # what every trained model and its results depend on
STUDENT_FIELDS = ("student_train_size",)  # what the students' runs depend on besides (Profile.for_students)

PROFILES = {
    "quick": Profile(
        "quick", train_size=4000, reference_train_size=55000, student_train_size=20000,
        validation_size=1000, test_size=2000, max_epochs=2, judges_full_profile_claims=False,
        latency_min_run_time=0.05,
        latency_repeats=5, seeds=(0, 1), twin_seeds=(0, 1), twin_epochs=5,
        saliency_images=500, hutchinson_probes=(1, 4, 16, 64, 256, 1024),
        loss_fractions=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        sparsities=(0.0, 0.5, 0.8, 0.9, 0.95), sensitivity_sparsities=(0.0, 0.5, 0.9, 0.98),
        pruning_schedule=(0.5, 0.9),
        calibration_images=200, weight_bits=(8, 7, 6, 5, 4, 3, 2, 1), activation_bits=(8, 4, 2), qat_bits=(4, 2),
        sweep_temperatures=(2.0, 4.0, 8.0), sweep_alphas=(0.5, 0.9), label_counts=(500, 1000, 5000, None),
        attack_images=1000, attack_epsilons=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2)),
    "full": Profile(
        "full", train_size=None, reference_train_size=None, student_train_size=None,
        validation_size=5000, test_size=None, max_epochs=None, judges_full_profile_claims=True,
        latency_min_run_time=0.5,
        latency_repeats=5, seeds=(0, 1, 2), twin_seeds=(0, 1), twin_epochs=5,
        saliency_images=2000, hutchinson_probes=(1, 4, 16, 64, 256, 1024),
        loss_fractions=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7),
        sparsities=(0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98), sensitivity_sparsities=(0.0, 0.5, 0.8, 0.9, 0.95, 0.98),
        pruning_schedule=(0.5, 0.75, 0.9, 0.95),
        calibration_images=1000, weight_bits=(8, 7, 6, 5, 4, 3, 2, 1), activation_bits=(8, 6, 4, 3, 2),
        qat_bits=(4, 2),
        sweep_temperatures=(2.0, 4.0, 8.0), sweep_alphas=(0.5, 0.9), label_counts=(500, 1000, 5000, None),
        attack_images=1000, attack_epsilons=(0.0, 0.02, 0.05, 0.1, 0.15, 0.2)),
}


def get_profile(name: "str | Profile | None" = None) -> Profile:
    """The named profile (a Profile is returned as it is), or the one ``KDVIZ_PROFILE`` selects (default ``full``)."""
    if isinstance(name, Profile):
        return name
    chosen = name if name is not None else os.environ.get(PROFILE_VARIABLE, "full")
    key = chosen.strip().lower()
    if key not in PROFILES:
        raise ValueError(
            f"profile must be one of {sorted(PROFILES)}, got {chosen!r} "
            f"(set it with the {PROFILE_VARIABLE} environment variable)"
        )
    return PROFILES[key]


def pick_device(name: str | None = None) -> torch.device:
    """CUDA if present, else Apple's MPS, else the CPU; ``KDVIZ_DEVICE`` or ``name`` overrides, and must name a
    device this machine has."""
    chosen = name or os.environ.get(DEVICE_VARIABLE)
    if chosen:
        available = _available_devices()
        try:
            device = torch.device(chosen)
        except RuntimeError:
            device = None
        if device is None or device.type not in ("cpu", "cuda", "mps") or not _present(device):
            raise ValueError(f"device must be one of {available} on this machine, got {chosen!r}"
                             + (f" (from {DEVICE_VARIABLE})" if not name else ""))
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _present(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        return mps is not None and mps.is_available() and (device.index or 0) == 0
    return device.index in (None, 0)


def _available_devices() -> list[str]:
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    return names


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity where the system says, else every core)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (all devices)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def home_dir() -> Path:
    """Where kdviz writes downloads and checkpoints: ``KDVIZ_HOME``, default ``~/.cache/kdviz``."""
    value = os.environ.get(HOME_VARIABLE)
    return Path(value).expanduser() if value else Path.home() / ".cache" / "kdviz"


def shared_data_dir() -> Path | None:
    """A read-only folder of data (and prepared checkpoints) named by ``KDVIZ_DATA``, if set."""
    value = os.environ.get(DATA_VARIABLE)
    if not value:
        return None
    folder = Path(value).expanduser()
    if not folder.is_dir():  # a misspelt folder would otherwise be ignored, and a room would train everything
        raise ValueError(f"{DATA_VARIABLE} must name an existing folder, got {value!r}: correct it, or unset it "
                         "to use only KDVIZ_HOME")
    return folder
