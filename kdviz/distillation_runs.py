"""Student experiments, cached: scratch against distilled, with few labels or an omitted class (introduced in 04)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

import torch
from torch import nn

from kdviz import cache, config, data, distill, hints, models, train

METHODS = ("scratch", "distilled")


@dataclass(frozen=True)
class StudentRun:
    """One student training run; every field is part of the cache key."""

    width: int = 8  # student_cnn width: 8 is about 9k parameters, 16 about 21k
    method: str = "distilled"  # "scratch" (labels only) or "distilled" (alpha/T loss against the teacher)
    T: float = 4.0
    alpha: float = 0.5
    labels: int | None = None  # labelled training images kept (balanced); None: all. The rest: a transfer set
    omit_class: int | None = None  # a class left out of the training images altogether
    seed: int = 0
    epochs: int = 15  # the full profile's epochs over the whole training set (capped in quick)
    lr: float = 0.05
    hint_epochs: int = 0  # of ``epochs``, those spent first on FitNets' hint alone (0: no hint)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        distill.validate_temperature(self.T)
        distill.validate_alpha(self.alpha)
        if self.labels is not None and self.labels <= 0:
            raise ValueError(f"labels must be a positive number of images or None, got {self.labels!r}")
        if isinstance(self.hint_epochs, bool) or not isinstance(self.hint_epochs, int) \
                or not 0 <= self.hint_epochs < self.epochs:
            raise ValueError(f"hint_epochs must be an integer in 0..{self.epochs - 1} (fewer than epochs), "
                             f"got {self.hint_epochs!r}")

    @property
    def name(self) -> str:
        """The kind of teaching: "scratch", "distilled" (logits), "hints" or "hints + logits"."""
        if not self.hint_epochs:
            return self.method
        return "hints" if self.method == "scratch" else "hints + logits"


def student_split(profile: config.Profile | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The images (and labels) the students train on: the profile's training split, or its ``student_train_size``
    images where it sets that (quick)."""
    return data.load_profile_split("fashion-mnist", "train", config.get_profile(profile).for_students())


def teacher_logits(split: str, profile: config.Profile, device: torch.device | str | None = None) -> torch.Tensor:
    """The cached teacher's logits for the profile's split ("train": the students' split), themselves cached
    (weights_only load)."""
    teacher = train.cached_teacher(profile, device)
    settings = train.teacher_key(profile, config.STUDENT_FIELDS if split == "train" else (), split=split)

    def compute() -> torch.Tensor:
        images, _ = student_split(profile) if split == "train" else data.load_profile_split("fashion-mnist", split, profile)
        return train.predict_logits(teacher, images, device=device)

    return cache.cached_tensors("teacher-logits", settings, compute)


def teacher_hint_features(profile: config.Profile, device: torch.device | str | None = None) -> torch.Tensor:
    """The cached teacher's features after its convolution blocks for the students' training images (float16),
    themselves cached: the hint of FitNets."""
    teacher = train.cached_teacher(profile, device)
    settings = train.teacher_key(profile, config.STUDENT_FIELDS, layers=hints.TEACHER_HINT_LAYERS)
    return cache.cached_tensors("teacher-hints", settings,
                                lambda: hints.teacher_features(teacher, student_split(profile)[0], device))


DIGIT_TEST_SIZE = 1_000  # of the 5,000 MNIST digits, held out (100 of each) to test the digit teacher


def digit_splits() -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], str]:
    """The real MNIST digits (``data.load_digit_sample``) split into training and test digits (1,000, balanced,
    fixed), and where the digits came from."""
    sample = data.load_digit_sample()
    held_out = torch.zeros(len(sample.labels), dtype=torch.bool)
    held_out[data.subset(torch.arange(len(sample.labels)), sample.labels, DIGIT_TEST_SIZE, seed=0)[0]] = True
    return ((sample.images[~held_out], sample.labels[~held_out]), (sample.images[held_out], sample.labels[held_out]),
            sample.source)


def digit_teacher(profile: config.Profile | str | None = None, epochs: int = 10, lr: float = 0.1,
                  device: torch.device | str | None = None, progress: bool = True) -> tuple[nn.Module, dict]:
    """The teacher's architecture trained on real MNIST digits (:func:`digit_splits`' training digits, no
    augmentation: a flipped digit is another digit), for the talk's temperature table in notebook 04. Cached:
    the weights, the test accuracy and the digits' source."""
    profile = config.get_profile(profile)
    (train_images, train_labels), test, source = digit_splits()

    def compute(model: nn.Module) -> dict:
        history = train.fit(model, (train_images, train_labels), test, epochs=profile.epochs(epochs), lr=lr,
                            seed=0, device=device, name="mnist", progress=progress, description="digit teacher")
        return {"accuracy": history.final_test_accuracy, "source": source, "history": history.records}

    config.seed_everything(0)
    fresh = models.build("teacher", **train.RECIPES["teacher"].model_kwargs)
    settings = train.profile_key(profile, source=source, digits=len(train_labels) + len(test[1]), epochs=epochs, lr=lr)
    model, result = cache.cached_model("digit-teacher", settings, fresh, compute)
    return model.eval(), result


def _bias_for_prior(logits: torch.Tensor, label: int, share: float) -> float:
    """The smallest bias on one class's logit that makes it the prediction for ``share`` of the images."""
    low, high = 0.0, 50.0
    for _ in range(40):
        middle = (low + high) / 2
        shifted = logits.clone()
        shifted[:, label] += middle
        if (shifted.argmax(1) == label).float().mean() < share:
            low = middle
        else:
            high = middle
    return high


def _train(student: nn.Module, run: StudentRun, profile: config.Profile, device: torch.device | str | None,
           progress: bool) -> dict:
    """Train ``student`` (in place) as ``run`` says; its result: accuracy, per-class accuracy, history..."""
    images, true_labels = student_split(profile)
    test_images, test_labels = data.load_profile_split("fashion-mnist", "test", profile)
    soft = teacher_logits("train", profile, device) if run.method == "distilled" else None
    features = teacher_hint_features(profile, device) if run.hint_epochs else None
    labels = true_labels.clone()
    if run.labels is not None and run.labels < len(labels):
        kept, _ = data.subset(torch.arange(len(labels)), true_labels, run.labels, seed=run.seed)
        unlabelled = torch.ones(len(labels), dtype=torch.bool)
        unlabelled[kept] = False
        labels[unlabelled] = distill.UNLABELLED
    if run.omit_class is not None:
        present = true_labels != run.omit_class
        images, labels = images[present], labels[present]
        soft = soft[present] if soft is not None else None
        features = features[present] if features is not None else None
    epochs = profile.epochs(run.epochs)
    started = time.perf_counter()
    description = f"{run.name} student w{run.width} seed {run.seed}"
    hint_history = None
    if run.hint_epochs:  # FitNets' first stage, on every training image; the second gets the remaining epochs
        hint_epochs = min(max(1, round(epochs * run.hint_epochs / run.epochs)), epochs - 1)
        hint_history = hints.fit_hints(student, features, (images, labels), epochs=hint_epochs, lr=run.lr,
                                       seed=run.seed, device=device, progress=progress,
                                       description=f"{description}, hint stage")
        epochs -= hint_epochs
    if run.method == "scratch":
        labelled = labels != distill.UNLABELLED
        scale = max(1, round(len(labels) / int(labelled.sum())))  # same number of steps as the distilled student
        history = train.fit(student, (images[labelled], labels[labelled]), (test_images, test_labels),
                            epochs=epochs * scale, lr=run.lr, augmentation=False, seed=run.seed, device=device,
                            progress=progress, description=description, evaluate_every=epochs * scale)
    else:
        history = distill.fit_student(student, soft, (images, labels), (test_images, test_labels), T=run.T,
                                      alpha=run.alpha, epochs=epochs, lr=run.lr, seed=run.seed, device=device,
                                      progress=progress, description=description)
    logits = train.predict_logits(student, test_images, device=device)
    correct = logits.argmax(1) == test_labels
    per_class = [float(correct[test_labels == c].float().mean()) for c in range(10)]
    validation = train.evaluate(student, *data.load_profile_split("fashion-mnist", "validation", profile), device=device)
    result = {"accuracy": float(correct.float().mean()), "validation_accuracy": validation.accuracy,
              "per_class": per_class, "seconds": time.perf_counter() - started, "history": history.records}
    if hint_history is not None:
        result["hint_history"] = hint_history.records
    if run.omit_class is not None:  # Hinton et al. section 3: raise the omitted class's bias to its prior
        all_images, _ = student_split(profile)
        bias = _bias_for_prior(train.predict_logits(student, all_images, device=device), run.omit_class, 0.1)
        corrected = logits.clone()
        corrected[:, run.omit_class] += bias
        fixed = corrected.argmax(1) == test_labels
        result["bias"] = bias
        result["corrected_accuracy"] = float(fixed.float().mean())
        result["corrected_per_class"] = [float(fixed[test_labels == c].float().mean()) for c in range(10)]
    return result


def student(run: StudentRun, profile: config.Profile | str | None = None, device: torch.device | str | None = None,
            progress: bool = True) -> tuple[nn.Module, dict]:
    """A trained student (its weights cached, for notebook 05's pipeline and chart) and its result."""
    profile = config.get_profile(profile)
    config.seed_everything(run.seed)
    fresh = models.build("student_cnn", width=run.width)
    model, result = cache.cached_model("student", cache_key(profile, cache_settings(run)), fresh,
                                       lambda model: _train(model, run, profile, device, progress))
    return model.eval(), result


def run_student(run: StudentRun, profile: config.Profile | str | None = None,
                device: torch.device | str | None = None, progress: bool = True) -> dict:
    """The result of a student run (accuracy, per-class accuracy, history...), from the cache or trained now."""
    return student(run, profile, device, progress)[1]


def cache_settings(run: StudentRun | object) -> dict:
    """The fields of a run (a dataclass with ``method``, ``T`` and ``alpha``) that its result depends on: a scratch
    student never sees T or alpha, so runs that differ only there share one result."""
    settings = asdict(run)
    if settings["method"] == "scratch":
        del settings["T"], settings["alpha"]
    if settings.get("hint_epochs") == 0:  # runs without a hint keep the keys they had before hints existed
        del settings["hint_epochs"]
    return settings


def cache_key(profile: config.Profile, settings: dict) -> dict:
    """The cache key of a student's run: a distilled one depends on the teacher's checkpoint, a scratch one only on
    the profile."""
    if settings["method"] == "scratch":
        return train.profile_key(profile, config.STUDENT_FIELDS, **settings)
    return train.teacher_key(profile, config.STUDENT_FIELDS, **settings)


def compare_over_seeds(base: StudentRun, seeds: Sequence[int] = (0, 1, 2), profile: config.Profile | str | None = None,
                       device: torch.device | str | None = None, progress: bool = True) -> dict:
    """Scratch and distilled accuracy of ``base`` over seeds: {method: {"runs": [...], "mean", "sd"}}."""
    summary = {}
    for method in METHODS:
        accuracies = [run_student(replace(base, method=method, seed=s), profile, device, progress)["accuracy"]
                      for s in seeds]
        summary[method] = {"runs": accuracies, "mean": statistics.mean(accuracies),
                           "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    summary["gain"] = summary["distilled"]["mean"] - summary["scratch"]["mean"]
    return summary


def sweep_cells(profile: config.Profile | str | None = None) -> dict[tuple[float, float], StudentRun]:
    """Notebook 04's T x alpha sweep: a width-8 student per cell of the profile's temperatures and alphas, seed 0."""
    profile = config.get_profile(profile)
    return {(T, alpha): StudentRun(width=8, T=T, alpha=alpha, epochs=10)
            for T in profile.sweep_temperatures for alpha in profile.sweep_alphas}


def sweep(profile: config.Profile | str | None = None, device: torch.device | str | None = None,
          progress: bool = True) -> dict[tuple[float, float], float]:
    """The sweep's validation accuracy per (T, alpha): what the recipe is chosen on (the test images only report)."""
    return {cell: run_student(run, profile, device, progress)["validation_accuracy"]
            for cell, run in sweep_cells(profile).items()}


def best_cell(profile: config.Profile | str | None = None, device: torch.device | str | None = None,
              progress: bool = True) -> tuple[float, float]:
    """The recipe notebook 04 recommends: the (T, alpha) of the sweep's most accurate cell on the validation images."""
    accuracies = sweep(profile, device, progress)
    return max(accuracies, key=accuracies.get)


def best_cell_over_seeds(profile: config.Profile | str | None = None, device: torch.device | str | None = None,
                         progress: bool = True) -> dict:
    """What notebook 04 trains after its sweep: the best cell (on validation) again with every seed, scratch and
    distilled (:func:`compare_over_seeds`)."""
    profile = config.get_profile(profile)
    best = sweep_cells(profile)[best_cell(profile, device, progress)]
    return compare_over_seeds(best, seeds=profile.seeds, profile=profile, device=device, progress=progress)


HINT_EPOCHS = 3  # of the talk's 10 epochs, those hinted students spend on the hint first (as many steps in all)
HINT_LABELS = (1000, None)  # the regimes hints are compared in: 1,000 labelled images, and all
TALK = {"width": 16, "T": 8.0, "alpha": 0.9, "epochs": 10}  # the talk's students, which hints are compared with
HINT_KINDS = ("scratch", "distilled", "hints", "hints + logits")


def hint_run(kind: str, labels: int | None = None, seed: int = 0) -> StudentRun:
    """The talk's width-16 student taught one of HINT_KINDS ways with ``labels`` labelled images (None: all):
    "hints" spends its first HINT_EPOCHS on the hint, then learns from the labels like "scratch"; "hints + logits"
    then learns from the alpha/T loss like "distilled"."""
    if kind not in HINT_KINDS:
        raise ValueError(f"kind must be one of {list(HINT_KINDS)}, got {kind!r}")
    method = "scratch" if kind in ("scratch", "hints") else "distilled"
    return StudentRun(method=method, labels=labels, seed=seed, hint_epochs=HINT_EPOCHS if kind.startswith("hints") else 0,
                      **TALK)


def hint_comparison(profile: config.Profile | str | None = None, device: torch.device | str | None = None,
                    progress: bool = True) -> dict:
    """Test accuracy of every HINT_KINDS student over the profile's seeds, in each regime of HINT_LABELS:
    {regime ("1000" or "all"): {kind: {"runs", "validation", "mean", "sd"}}}."""
    profile = config.get_profile(profile)
    table: dict = {}
    for labels in HINT_LABELS:
        row = {}
        for kind in HINT_KINDS:
            results = [run_student(hint_run(kind, labels, seed), profile, device, progress) for seed in profile.seeds]
            runs = [result["accuracy"] for result in results]
            row[kind] = {"runs": runs, "validation": [result["validation_accuracy"] for result in results],
                         "mean": statistics.mean(runs), "sd": statistics.stdev(runs) if len(runs) > 1 else 0.0}
        table[str(labels or "all")] = row
    return table
