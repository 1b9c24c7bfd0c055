"""Every trained model and cached run the notebooks read, as a list of jobs that ``python -m kdviz prepare`` runs
side by side, one core each, before it executes the notebooks (which then only read the cache)."""
from __future__ import annotations

import importlib
import inspect
import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from typing import NamedTuple

import torch

from kdviz import adversarial, config, data, distillation_runs, pareto_runs, pipeline_runs, pruning_runs

TEACHER = "00 teacher"
TEACHER_LOGITS = "04 teacher logits, training images"


@dataclass(frozen=True)
class Job:
    """One cached computation, ``kdviz.<module>.<function>(profile=..., **kwargs)`` (quietly), run once the job
    named ``after`` (if any) has finished."""

    name: str
    module: str
    function: str
    kwargs: dict = field(default_factory=dict)
    after: str | None = None


def _zoo(name: str, model: str, seed: int) -> Job:
    return Job(name, "train", "load_or_train", {"name": model, "seed": seed})


def student_runs(profile: config.Profile) -> dict[str, distillation_runs.StudentRun]:
    """The students notebook 04 trains and notebook 05 charts, by a short description (05's named with its
    number); runs shared between the notebooks' sections (the same settings) appear once."""
    run = distillation_runs.StudentRun
    talk = {"T": 8.0, "alpha": 0.9, "epochs": 10}
    runs: dict[str, distillation_runs.StudentRun] = {}
    for seed in profile.seeds:
        for method in distillation_runs.METHODS:
            for width in (8, 16):
                runs[f"{method} w{width} seed {seed}"] = run(width=width, method=method, seed=seed, **talk)
            runs[f"{method} w16 1,000 labels seed {seed}"] = run(width=16, method=method, labels=1000, seed=seed, **talk)
    for (T, alpha), cell in sweep_cells(profile).items():
        runs[f"sweep T {T:g} alpha {alpha:g}"] = cell
    for labels in profile.label_counts:
        for method in distillation_runs.METHODS:
            runs[f"{method} w16 {labels or 'all'} labels"] = run(width=16, method=method, labels=labels, **talk)
    runs["omitted class"] = run(width=16, omit_class=data.CLASSES["fashion-mnist"].index("Dress"), **talk)
    for width in (8, 16):  # notebook 05's chart: 04's recommended recipe, and scratch beside it
        for method in distillation_runs.METHODS:
            runs[f"05 chart student {method} w{width}"] = pareto_runs.chart_student(width, method)
    unique: dict[str, str] = {}
    for name, settings in runs.items():
        unique.setdefault(json.dumps(distillation_runs.cache_settings(settings), sort_keys=True), name)
    return {name: runs[name] for name in unique.values()}


def sweep_cells(profile: config.Profile) -> dict[tuple[float, float], distillation_runs.StudentRun]:
    """Notebook 04's T x alpha sweep: a width-8 student per cell, seed 0."""
    return {(T, alpha): distillation_runs.StudentRun(width=8, T=T, alpha=alpha, epochs=10)
            for T in profile.sweep_temperatures for alpha in profile.sweep_alphas}


def best_cell_over_seeds(profile: config.Profile | str | None = None, progress: bool = True) -> dict:
    """What notebook 04 trains after its sweep: the most accurate cell again with every seed (scratch and
    distilled). The sweep's runs come from the cache."""
    profile = config.get_profile(profile)
    sweep = {cell: distillation_runs.run_student(run, profile, progress=progress)["accuracy"]
             for cell, run in sweep_cells(profile).items()}
    T, alpha = max(sweep, key=sweep.get)
    base = distillation_runs.StudentRun(width=8, T=T, alpha=alpha, epochs=10)
    return distillation_runs.compare_over_seeds(base, seeds=profile.seeds, profile=profile, progress=progress)


def jobs(profile: config.Profile | str | None = None) -> list[Job]:
    """What the notebooks train or compute and cache, for ``profile``: the teacher first, the rest after it (the
    runs that read the teacher wait for it), longest first within each part."""
    profile = config.get_profile(profile)
    twins = [_zoo(f"01 {model} seed {seed}", model, seed)
             for seed in profile.twin_seeds for model in ("separable_cnn", "fire_cnn", "teacher")
             if (model, seed) != ("teacher", 0)]
    pipelines = [Job(f"05 pipeline {method} seed {seed}", "pipeline_runs", "pruned",
                     {"run": replace(pipeline_runs.Pipeline(), method=method, seed=seed)},
                     after=TEACHER_LOGITS if method == "distilled" else None)
                 for method in pipeline_runs.METHODS for seed in profile.seeds]
    students = [Job(name if name[:2].isdigit() else f"04 student {name}", "distillation_runs", "run_student", {"run": run},
                    after=TEACHER_LOGITS if run.method == "distilled" else None)
                for name, run in student_runs(profile).items()]
    last_cell = [job.name for job in students if job.name.startswith("04 student sweep")][-1]
    students.append(Job("04 the best sweep cell over seeds", "plan", "best_cell_over_seeds", after=last_cell))
    every = [
        _zoo(TEACHER, "teacher", 0),
        _zoo("00 mlp", "mlp", 0),
        _zoo("02 tiny net", "tiny_mlp", 0),
        Job("02 tiny net's Hessian", "pruning_runs", "tiny_hessian", after="02 tiny net"),
        *twins,
        Job(TEACHER_LOGITS, "distillation_runs", "teacher_logits", {"split": "train"}, after=TEACHER),
        Job("04 teacher logits, test images", "distillation_runs", "teacher_logits", {"split": "test"}, after=TEACHER),
        *[Job(f"02 iterative pruning, {method}", "pruning_runs", "iterative", {"method": method}, after=TEACHER)
          for method in pruning_runs.METHODS],
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
        *[Job(f"05 defence: {kind}", "adversarial", "trained", {"kind": kind}) for kind in adversarial.KINDS[:2]],
        Job("05 defence: defensively distilled", "adversarial", "trained", {"kind": adversarial.KINDS[2]},
            after="05 defence: defensive teacher"),
        *students,
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


def _quiet_worker(threads: int | None) -> None:
    """A worker's set-up: no progress bars (the main process shows one per job), and ``threads`` threads."""
    os.environ["TQDM_DISABLE"] = "1"  # tqdm reads its defaults from TQDM_* variables
    if threads:
        torch.set_num_threads(threads)


def default_workers() -> int:
    """One job at a time on a GPU (it is shared); otherwise one job per core, each on one thread (small models
    use a second thread poorly: two jobs side by side finish sooner than one after the other on two threads)."""
    if config.pick_device().type != "cpu":
        return 1
    return min(config.available_cores(), 8)


def run(job_list: Sequence[Job], profile: config.Profile | str | None = None, workers: int | None = None,
        progress: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run the jobs, each after the one it waits for, ``workers`` at a time in separate processes (one thread
    each on the CPU); of the jobs ready to run, the earliest in ``job_list`` goes first, so the notebooks' runs
    finish in notebook order. A job that fails is reported and the jobs waiting for it are skipped; the others
    still run. Returns an :class:`Outcome` per job, in the order they ended."""
    profile = config.get_profile(profile)
    workers = workers or default_workers()
    names = {job.name for job in job_list}
    waiting = [job for job in job_list if job.after is not None and job.after in names]
    ready = [job for job in job_list if job not in waiting]
    outcomes: list[Outcome] = []

    def record(outcome: Outcome) -> None:
        outcomes.append(outcome)
        if progress:
            progress(outcome)

    threads = 1 if config.pick_device().type == "cpu" else None
    order = {job.name: position for position, job in enumerate(job_list)}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_quiet_worker,
                             initargs=(threads,)) as pool:
        running: dict[Future, tuple[Job, float]] = {}
        try:
            _run_all(pool, ready, waiting, running, order, workers, profile, record)
        except KeyboardInterrupt:  # Ctrl-C: stop the workers now, not when their jobs end (nothing is half-written)
            for future in running:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise
    return outcomes


def _run_all(pool: ProcessPoolExecutor, ready: list[Job], waiting: list[Job], running: dict, order: dict[str, int],
             workers: int, profile: config.Profile, record: Callable[[Outcome], None]) -> None:
    """:func:`run`'s loop: submit the earliest ready jobs, record each as it ends, release the jobs waiting for it."""
    while ready or running:
        ready.sort(key=lambda job: order[job.name])  # the earliest in the list first, whenever it became ready
        while ready and len(running) < workers:
            job = ready.pop(0)
            running[pool.submit(run_job, job, profile)] = (job, time.perf_counter())
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            job, submitted = running.pop(future)
            error = future.exception()
            if error is None:
                record(Outcome(job.name, future.result()))
                ready += [other for other in waiting if other.after == job.name]
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
        new = [job for job in waiting if job.after in names and job not in found]
        if not new:
            break
        found += new
        names |= {job.name for job in new}
    return found
