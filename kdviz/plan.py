"""Every trained model and cached run the notebooks read, as a list of jobs that ``python -m kdviz prepare`` runs
side by side, one core each, before it executes the notebooks (which then only read the cache)."""
from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import NamedTuple

import torch

from kdviz import adversarial, config, data, distillation_runs, low_rank_runs, pipeline_runs, pruning_runs, train

TEACHER = "00 teacher"
TEACHER_LOGITS = "04 teacher logits, training images"
TEACHER_HINTS = "04 teacher hint features, training images"


@dataclass(frozen=True)
class Job:
    """One cached computation, ``kdviz.<module>.<function>(profile=..., **kwargs)`` (quietly), run once every job
    named in ``after`` (one name or several) has finished."""

    name: str
    module: str
    function: str
    kwargs: dict = field(default_factory=dict)
    after: str | tuple[str, ...] | None = None

    @property
    def waits_for(self) -> tuple[str, ...]:
        """The names of the jobs this one waits for."""
        if self.after is None:
            return ()
        return (self.after,) if isinstance(self.after, str) else tuple(self.after)


def _zoo(name: str, model: str, seed: int, **kwargs) -> Job:
    return Job(name, "train", "load_or_train", {"name": model, "seed": seed, **kwargs})


def _twins(profile: config.Profile) -> list[Job]:
    """Notebook 01's side-by-side comparison: the teacher and its twins, trained alike, for every seed; a model that
    is the workbook's teacher itself (the quick profile caps both recipes alike) is left to that job."""
    teacher = train.checkpoint_name("teacher", profile, 0)
    return [_zoo(f"01 {model} seed {seed}", model, seed, epochs=profile.twin_epochs)
            for seed in profile.twin_seeds for model in ("separable_cnn", "fire_cnn", "teacher")
            if train.checkpoint_name(model, profile, seed, profile.twin_epochs) != teacher]


def student_runs(profile: config.Profile) -> dict[str, distillation_runs.StudentRun]:
    """The students notebook 04 trains whose settings are known before its sweep has run, by a short description;
    runs shared between the notebook's sections (the same settings) appear once."""
    run = distillation_runs.StudentRun
    talk = {"T": 8.0, "alpha": 0.9, "epochs": 10}
    runs: dict[str, distillation_runs.StudentRun] = {}
    for seed in profile.seeds:
        for method in distillation_runs.METHODS:
            for width in (8, 16):
                runs[f"{method} w{width} seed {seed}"] = run(width=width, method=method, seed=seed, **talk)
            runs[f"{method} w16 1,000 labels seed {seed}"] = run(width=16, method=method, labels=1000, seed=seed, **talk)
    for (T, alpha), cell in distillation_runs.sweep_cells(profile).items():
        runs[f"sweep T {T:g} alpha {alpha:g}"] = cell
    for labels in profile.label_counts:
        for method in distillation_runs.METHODS:
            runs[f"{method} w16 {labels or 'all'} labels"] = run(width=16, method=method, labels=labels, **talk)
    runs["omitted class"] = run(width=16, omit_class=data.CLASSES["fashion-mnist"].index("Dress"), **talk)
    unique: dict[str, str] = {}
    for name, settings in runs.items():
        unique.setdefault(_settings(settings), name)
    return {name: runs[name] for name in unique.values()}


def _settings(run: distillation_runs.StudentRun) -> str:
    """What a student's cached result depends on, as text: two runs with the same text are one run."""
    return json.dumps(distillation_runs.cache_settings(run), sort_keys=True)


def jobs(profile: config.Profile | str | None = None) -> list[Job]:
    """What the notebooks train or compute and cache, for ``profile``, in notebook order: the runs that read the
    teacher wait for it, and those that use notebook 04's recommended recipe wait for its whole sweep."""
    profile = config.get_profile(profile)
    students = [Job(f"04 student {name}", "distillation_runs", "run_student", {"run": run},
                    after=TEACHER_LOGITS if run.method == "distilled" else None)
                for name, run in student_runs(profile).items()]
    by_settings = {_settings(job.kwargs["run"]): job.name for job in students}
    sweep = tuple(by_settings[_settings(cell)] for cell in distillation_runs.sweep_cells(profile).values())
    hinted = [Job(f"04 student {kind} w16 {labels or 'all'} labels seed {seed}", "distillation_runs", "run_student",
                  {"run": distillation_runs.hint_run(kind, labels, seed)},
                  after=(TEACHER_HINTS, TEACHER_LOGITS) if kind == "hints + logits" else TEACHER_HINTS)
              for labels in distillation_runs.HINT_LABELS for kind in ("hints", "hints + logits") for seed in profile.seeds]
    pipelines = [Job(f"05 pipeline {method} seed {seed}", "pipeline_runs", "pruned_recommended",
                     {"method": method, "seed": seed}, after=sweep if method == "distilled" else None)
                 for method in pipeline_runs.METHODS for seed in profile.seeds]
    every = [
        _zoo(TEACHER, "teacher", 0),
        _zoo("00 mlp", "mlp", 0),
        _zoo("02 tiny net", "tiny_mlp", 0),
        Job("02 tiny net's Hessian", "pruning_runs", "tiny_hessian", after="02 tiny net"),
        *_twins(profile),
        Job("01 low-rank sweep", "low_rank_runs", "sweep", after=TEACHER),
        *[Job(f"01 low rank {rank}, fine-tuned", "low_rank_runs", "finetuned", {"rank": rank}, after=TEACHER)
          for rank in low_rank_runs.FINETUNED_RANKS],
        Job(TEACHER_LOGITS, "distillation_runs", "teacher_logits", {"split": "train"}, after=TEACHER),
        Job("04 digit teacher (MNIST)", "distillation_runs", "digit_teacher"),
        Job(TEACHER_HINTS, "distillation_runs", "teacher_hint_features", after=TEACHER),
        *hinted,
        Job("04 teacher logits, test images", "distillation_runs", "teacher_logits", {"split": "test"}, after=TEACHER),
        *[Job(f"02 iterative pruning, {method}, seed {seed}", "pruning_runs", "iterative",
              {"method": method, "seed": seed}, after=TEACHER)
          for seed in profile.seeds for method in pruning_runs.METHODS],
        *[Job(f"03 QAT {bits} bits", "quantization_runs", "qat", {"bits": bits}, after=TEACHER)
          for bits in profile.qat_bits],
        Job("03 float fine-tuned, QAT's control", "quantization_runs", "float_finetuned", after=TEACHER),
        *pipelines,
        Job("02 channel pruning", "pruning_runs", "channel_pruned", after=TEACHER),
        Job("02 one-shot pruning", "pruning_runs", "one_shot", after=TEACHER),
        Job("02 sensitivity", "pruning_runs", "sensitivity", after=TEACHER),
        Job("02 loss prediction", "pruning_runs", "loss_prediction", after=TEACHER),
        Job("03 weight bit depths", "quantization_runs", "weight_bits", after=TEACHER),
        Job("03 activation bit depths", "quantization_runs", "activation_bits", after=TEACHER),
        Job("03 activation functions", "quantization_runs", "activation_functions"),
        *[Job(f"05 defence: {kind}", "adversarial", "trained", {"kind": kind}) for kind in adversarial.KINDS[:2]],
        Job("05 Deep Compression", "deep_compression_runs", "stages"),
        Job("05 defence: defensively distilled", "adversarial", "trained", {"kind": adversarial.KINDS[2]},
            after="05 defence: defensive teacher"),
        *students,
        Job("04 the best sweep cell over seeds", "distillation_runs", "best_cell_over_seeds", after=sweep),
        *[Job(f"05 chart student distilled w{width}", "pareto_runs", "chart_student_result", {"width": width},
              after=sweep) for width in (8, 16)],
    ]
    return sorted(every, key=lambda job: job.name[:2])  # notebook order (stable: the longest runs lead each notebook)


def run_job(job: Job, profile: config.Profile) -> float:
    """Run one job in this process (quietly); the seconds it took."""
    function: Callable = getattr(importlib.import_module(f"kdviz.{job.module}"), job.function)
    quiet = {"progress": False} if "progress" in inspect.signature(function).parameters else {}
    started = time.perf_counter()
    function(profile=profile, **job.kwargs, **quiet)
    return time.perf_counter() - started


class Outcome(NamedTuple):
    """What became of a job: its name, the seconds it ran, and the error that stopped it (None if it finished)."""

    name: str
    seconds: float
    error: str | None = None


def _worker_threads(threads: int | None) -> None:
    """A worker's set-up: ``threads`` threads."""
    if threads:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def _quiet_workers() -> Iterator[None]:
    """No progress bars in the workers started meanwhile (the main process shows one per job): they inherit
    TQDM_DISABLE, which tqdm reads when it is imported, before any set-up of theirs could run."""
    before = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        yield
    finally:
        if before is None:
            del os.environ["TQDM_DISABLE"]
        else:
            os.environ["TQDM_DISABLE"] = before


def default_workers() -> int:
    """One job at a time on a GPU (it is shared); otherwise one job per core, each on one thread (small models
    use a second thread poorly: two jobs side by side finish sooner than one after the other on two threads)."""
    if config.pick_device().type != "cpu":
        return 1
    return min(config.available_cores(), 8)


def run(job_list: Sequence[Job], profile: config.Profile | str | None = None, workers: int | None = None,
        progress: Callable[[Outcome], None] | None = None,
        spare: Callable[[int], None] | None = None) -> list[Outcome]:
    """Run the jobs, each after the one it waits for, ``workers`` at a time in separate processes (one thread
    each on the CPU); of the jobs ready to run, the earliest in ``job_list`` goes first, so the notebooks' runs
    finish in notebook order. A job that fails is reported and the jobs waiting for it are skipped; the others
    still run. ``progress`` hears of each job as it ends; ``spare`` of how many workers have no job ready for them,
    after each round of starting jobs, and ``workers`` at the end. Returns an :class:`Outcome` per job, in the
    order they ended."""
    profile = config.get_profile(profile)
    workers = workers or default_workers()
    names = {job.name for job in job_list}
    waiting = [job for job in job_list if set(job.waits_for) & names]
    ready = [job for job in job_list if job not in waiting]
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if progress:
            progress(outcome)

    threads = 1 if config.pick_device().type == "cpu" else None
    order = {job.name: position for position, job in enumerate(job_list)}
    with _quiet_workers(), ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_worker_threads,
                                               initargs=(threads,)) as pool:
        running: dict[Future, tuple[Job, float]] = {}
        try:
            _run_all(pool, ready, waiting, running, order, workers, profile, record, spare or (lambda count: None))
        except KeyboardInterrupt:  # Ctrl-C: stop the workers now, not when their jobs end (nothing is half-written)
            for future in running:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
    if spare:
        spare(workers)
    return outcomes


def _run_all(pool: ProcessPoolExecutor, ready: list[Job], waiting: list[Job], running: dict, order: dict[str, int],
             workers: int, profile: config.Profile, record: Callable[[Outcome], None],
             spare: Callable[[int], None]) -> None:
    """:func:`run`'s loop: submit the earliest ready jobs, record each as it ends, release the jobs waiting for it."""
    names_in_plan = set(order)
    finished_names: set[str] = set()
    while ready or running:
        ready.sort(key=lambda job: order[job.name])  # the earliest in the list first, whenever it became ready
        while ready and len(running) < workers:
            job = ready.pop(0)
            running[pool.submit(run_job, job, profile)] = (job, time.perf_counter())
        spare(workers - len(running))
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            job, submitted = running.pop(future)
            error = future.exception()
            if error is None:
                record(Outcome(job.name, future.result()))
                finished_names.add(job.name)
                ready += [other for other in waiting if set(other.waits_for) & names_in_plan <= finished_names]
            else:
                record(Outcome(job.name, time.perf_counter() - submitted, f"{type(error).__name__}: {error}"))
                skipped = _dependents(job.name, waiting)
                for other in skipped:
                    record(Outcome(other.name, 0.0, f"skipped: it waits for {job.name!r}, which failed"))
                waiting[:] = [other for other in waiting if other not in skipped]
            waiting[:] = [other for other in waiting if other not in ready]


def _dependents(name: str, waiting: list[Job]) -> list[Job]:
    """The jobs that wait for ``name``, directly or through others."""
    found, names = [], {name}
    for _ in range(len(waiting)):
        new = [job for job in waiting if set(job.waits_for) & names and job not in found]
        if not new:
            break
        found += new
        names |= {job.name for job in new}
    return found
