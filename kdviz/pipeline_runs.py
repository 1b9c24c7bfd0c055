"""Notebook 05's pipeline, cached: a student distilled from the teacher, then channel-pruned, then int8, measured
step by step and over seeds (introduced in 05)."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

import pandas as pd
import torch
from torch import nn

from kdviz import cache, channel_pruning, config, data, distill, distillation_runs, int8, measure, models, prune, quantization_runs, train

METHODS = ("distilled", "scratch")


@dataclass(frozen=True)
class Pipeline:
    """The settings of one run of the pipeline; every field is part of the cache keys."""

    width: int = 16  # compact_cnn: the teacher's shape at half its width
    hidden: int = 64
    method: str = "distilled"  # "distilled" (the alpha/T loss against the teacher) or "scratch" (labels only)
    T: float = 2.0  # :func:`recommended` puts the best cell of notebook 04's sweep (on validation) here
    alpha: float = 0.5
    epochs: int = 10  # the full profile's epochs (capped in quick)
    lr: float = 0.05
    prune_amount: float = 0.5  # share of every layer's channels and hidden units removed
    finetune_epochs: int = 3
    finetune_lr: float = 0.02
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {list(METHODS)}, got {self.method!r}")
        distill.validate_temperature(self.T)
        distill.validate_alpha(self.alpha)
        prune.validate_amount(self.prune_amount, "prune_amount")
        for name in ("width", "hidden", "epochs", "finetune_epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


def recommended(profile: config.Profile | str | None = None, **changes) -> Pipeline:
    """The workbook's pipeline with the recipe notebook 04 recommends: T and alpha of its sweep's best cell on the
    validation images (the sweep's students come from the cache, or are trained now); ``changes`` set other fields."""
    T, alpha = distillation_runs.best_cell(profile, progress=False)
    return replace(Pipeline(T=T, alpha=alpha), **changes)


class Step(NamedTuple):
    """One model of the pipeline: what was done, the model, its test accuracy, and its float model's MACs."""

    name: str
    model: nn.Module
    accuracy: float
    macs: int


def _train(model: nn.Module, run: Pipeline, profile: config.Profile, epochs: int, lr: float, device: torch.device | str | None,
           progress: bool, description: str) -> train.History:
    """Train with the run's loss: the alpha/T loss against the teacher's logits, or cross-entropy on the labels."""
    split = distillation_runs.student_split(profile)
    test = data.load_profile_split("fashion-mnist", "test", profile)
    if run.method == "scratch":
        return train.fit(model, split, test, epochs=epochs, lr=lr, seed=run.seed, device=device, progress=progress,
                         description=description)
    soft = distillation_runs.teacher_logits("train", profile, device)
    return distill.fit_student(model, soft, split, test, T=run.T, alpha=run.alpha, epochs=epochs, lr=lr,
                               seed=run.seed, device=device, progress=progress, description=description)


def _fresh_student(run: Pipeline) -> nn.Module:
    config.seed_everything(run.seed)
    return models.build("compact_cnn", width=run.width, hidden=run.hidden)


def student(run: Pipeline | None = None, profile: config.Profile | str | None = None, device: torch.device | str | None = None,
            progress: bool = True) -> tuple[nn.Module, dict]:
    """Step 1: the compact student trained by the run's method (cached weights): the model and {"accuracy", ...}.
    Without ``run``, the :func:`recommended` one."""
    profile = config.get_profile(profile)
    run = run or recommended(profile)
    settings = {k: v for k, v in distillation_runs.cache_settings(run).items() if not k.startswith(("prune", "finetune"))}

    def compute(model: nn.Module) -> dict:
        history = _train(model, run, profile, profile.epochs(run.epochs), run.lr, device, progress,
                         f"{run.method} compact student, seed {run.seed}")
        return {"accuracy": history.final_test_accuracy, "seconds": history.seconds, "history": history.records}

    model, result = cache.cached_model("combined-student", distillation_runs.cache_key(profile, settings), _fresh_student(run), compute)
    return model.eval(), result


def pruned(run: Pipeline | None = None, profile: config.Profile | str | None = None, device: torch.device | str | None = None,
           progress: bool = True) -> tuple[nn.Module, dict]:
    """Step 2: the student without ``prune_amount`` of its channels and hidden units (a smaller dense model),
    fine-tuned with the same loss (cached): the model, its accuracy before and after fine-tuning."""
    profile = config.get_profile(profile)
    run = run or recommended(profile)
    trained, _ = student(run, profile, device, progress)
    test = data.load_profile_split("fashion-mnist", "test", profile)

    def compute(model: nn.Module) -> dict:
        before = train.evaluate(model, *test, device=device).accuracy
        history = _train(model, run, profile, profile.epochs(run.finetune_epochs), run.finetune_lr, device,
                         progress, f"fine-tune the channel-pruned student, seed {run.seed}")
        return {"accuracy_pruned": before, "accuracy": history.final_test_accuracy, "seconds": history.seconds}

    smaller = channel_pruning.channel_prune(trained.cpu(), run.prune_amount)
    key = distillation_runs.cache_key(profile, distillation_runs.cache_settings(run))
    model, result = cache.cached_model("combined-pruned", key, smaller, compute)
    return model.eval(), result


def pruned_recommended(method: str = "distilled", seed: int = 0, profile: config.Profile | str | None = None,
                       device: torch.device | str | None = None, progress: bool = True) -> dict:
    """Steps 1 and 2 of the :func:`recommended` pipeline trained by ``method`` with ``seed`` (cached): the result of
    :func:`pruned`. A scratch student never sees T or alpha, so it does not wait for notebook 04's sweep."""
    profile = config.get_profile(profile)
    run = Pipeline(method=method, seed=seed) if method == "scratch" else recommended(profile, seed=seed)
    return pruned(run, profile, device, progress)[1]


def quantized(model: nn.Sequential, profile: config.Profile | str | None = None) -> tuple[nn.Module, float]:
    """Step 3: ``model`` converted to static int8 (PyTorch's quantized CPU kernels), and its test accuracy."""
    profile = config.get_profile(profile)
    converted = int8.static_int8(model, quantization_runs.calibration_images(profile))
    return converted, train.evaluate(converted, *data.load_profile_split("fashion-mnist", "test", profile),
                                     device="cpu").accuracy


STEP_NAMES = ("teacher", "student", "pruned", "int8")


def steps(run: Pipeline | None = None, profile: config.Profile | str | None = None, device: torch.device | str | None = None,
          progress: bool = True) -> list[Step]:
    """The teacher and the three steps of one run (by default the :func:`recommended` one), each with its test
    accuracy (the trained models are cached)."""
    profile = config.get_profile(profile)
    run = run or recommended(profile)
    teacher, history = train.load_or_train("teacher", 0, profile=profile, device=device, progress=progress)
    small, small_result = student(run, profile, device, progress)
    smaller, smaller_result = pruned(run, profile, device, progress)
    smallest, smallest_accuracy = quantized(smaller, profile)
    return [Step("teacher", teacher, history.final_test_accuracy, measure.macs(teacher)),
            Step(f"{run.method} student", small, small_result["accuracy"], measure.macs(small)),
            Step(f"+ {100 * run.prune_amount:.0f} % channels pruned", smaller, smaller_result["accuracy"],
                 measure.macs(smaller)),
            Step("+ int8", smallest, smallest_accuracy, measure.macs(smaller))]


def measure_steps(pipeline_steps: Sequence[Step], min_run_time: float = 0.5, repeats: int = 5) -> pd.DataFrame:
    """A table (pandas, a row per step) of bytes, MACs, latency at batch 1 and 256 (medians of ``repeats``
    measurements, taken in turns), accuracy, and each step's size ratio and accuracy change against the first
    row (the teacher)."""
    if not pipeline_steps:
        raise ValueError("pipeline_steps must hold at least one step")
    table = measure.summary({step.name: step.model for step in pipeline_steps},
                            {step.name: step.accuracy for step in pipeline_steps},
                            min_run_time=min_run_time, repeats=repeats, counts=False)
    table.insert(1, "MACs", [step.macs for step in pipeline_steps])
    table.index.name = "model"
    first = table.iloc[0]
    table["times smaller"] = first["bytes"] / table["bytes"]
    table["points lost"] = 100 * (first["accuracy"] - table["accuracy"])
    return table


def over_seeds(base: Pipeline | None = None, seeds: Sequence[int] = (0, 1), profile: config.Profile | str | None = None,
               device: torch.device | str | None = None,
               progress: bool = True) -> dict[str, dict]:
    """Each step's accuracy over seeds: {step name: {"runs": [...], "mean", "sd"}} (the teacher is seed 0's)."""
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    base = base or recommended(profile)
    runs = [steps(replace(base, seed=seed), profile, device, progress) for seed in seeds]
    summary = {}
    for position, name in enumerate(STEP_NAMES):
        accuracies = [run[position].accuracy for run in runs]
        summary[name] = {"label": runs[0][position].name, "runs": accuracies, "mean": statistics.mean(accuracies),
                         "sd": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0}
    return summary
