"""Prepare a machine, or a shared folder for a room, before a workshop (``python -m kdviz prepare``): fetch and
verify the data, train and cache every model and result the notebooks use (side by side, a job per core), run
every notebook once in the chosen profile (each as soon as the jobs it reads are done and a core is free of jobs),
and optionally pack it all into one archive. Safe to interrupt and run again: every file is written whole, and
what is cached is not computed twice."""
from __future__ import annotations

import hashlib
import json
import os
import queue
import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
from nbclient.exceptions import CellTimeoutError
from tqdm.auto import tqdm

from kdviz import cache, config, data, plan, runner, tensorboard_log
from kdviz import pack as pack_module

DATASETS = ("fashion-mnist",)  # what the notebooks read


def _share_data(name: str, into: Path) -> Path:
    """Copy a data set's verified files into ``into/<folder>/``, readable by everyone (a KDVIZ_DATA layout), and
    check the copies byte for byte: a damaged file already there is replaced, not trusted for its size."""
    folder = into / data.dataset_info(name).folder
    for split in data.SPLITS:
        for source in data.find_files(name, split):
            _copy_verified(source, folder / source.name)
    return folder


def _copy_verified(source: Path, target: Path) -> None:
    """``target`` made identical to ``source`` (written whole, then read back and compared)."""
    payload = source.read_bytes()
    if target.is_file() and _digest(target.read_bytes()) == _digest(payload):
        return
    cache.atomic_write(target, lambda stream: stream.write(payload))
    if _digest(target.read_bytes()) != _digest(payload):
        raise OSError(f"the copy of {source} in {target} does not read back the same")


def _digest(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def prepare(profile: str | None = "full", *, into: Path | None = None, notebooks: Sequence[Path] | None = None,
            allow_download: bool = True, progress: bool = True, workers: int | None = None,
            pack: Path | None = None, jobs: Sequence[plan.Job] | None = None) -> list[dict]:
    """Fetch the data, train and cache what the notebooks use (:mod:`kdviz.plan`'s jobs, ``workers`` side by side),
    and run each notebook once the jobs it reads are done (then it only reads the cache) and a worker has no job
    to run, at most ``workers`` at a time; with ``pack``, write everything they used into one archive
    (:mod:`kdviz.pack`). One report row per step: {"step", "ok", "detail", "seconds"}. ``jobs`` replaces the
    plan's jobs for the chosen notebooks (an empty list: the notebooks compute what they need themselves).

    With ``into`` the checkpoints, results and data go to that folder (laid out for ``KDVIZ_DATA``), not to
    ``KDVIZ_HOME``. A missing data set stops the run, since no notebook can work without it; a failing job or
    notebook is reported and the others still run.
    """
    profile = config.get_profile(profile)
    tensorboard_log.folder()  # a KDVIZ_TENSORBOARD naming a file: said now, not by every job
    into = Path(into).expanduser().resolve() if into else None
    started = time.perf_counter()
    report: list[dict] = []
    with _stop_on_ctrl_c():
        try:
            _prepare(profile, into, notebooks, allow_download, progress, workers, pack, jobs, report)
        except KeyboardInterrupt:
            report.append({"step": "stopped by Ctrl-C", "ok": False, "seconds": time.perf_counter() - started,
                           "detail": "what finished is cached, every file whole; run the same command to resume"})
            raise Interrupted(report) from None
    report.append({"step": "total", "ok": all(row["ok"] for row in report), "detail": "wall time",
                   "seconds": time.perf_counter() - started})
    return report


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`prepare`; ``report`` holds the rows of what finished before."""

    def __init__(self, report: list[dict]) -> None:
        super().__init__("stopped by Ctrl-C")
        self.report = report


_CTRL_C = threading.Event()


@contextmanager
def _stop_on_ctrl_c() -> Iterator[None]:
    """Note Ctrl-C (SIGINT) as it arrives, so that a notebook it interrupts is not reported as an ordinary failure
    and the next one is not started."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        yield  # not ours to handle: another thread, or a run started to ignore Ctrl-C (nohup ... &)
        return

    def interrupted(signum: int, frame: object) -> None:
        _CTRL_C.set()
        raise KeyboardInterrupt

    _CTRL_C.clear()
    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _prepare(profile: config.Profile, into: Path | None, notebooks: Sequence[Path] | None, allow_download: bool,
             progress: bool, workers: int | None, pack: Path | None, jobs: Sequence[plan.Job] | None,
             report: list[dict]) -> None:
    """:func:`prepare`'s steps, each appending its row to ``report``."""
    if into is not None:
        try:
            into.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=into):
                pass
        except OSError as error:  # a file, or a folder this user cannot write: say so before any work
            report.append({"step": f"folder: {into}", "ok": False, "seconds": 0.0,
                           "detail": f"--into must be a folder this user can write ({error.strerror or error})"})
            return
    for name in DATASETS:
        started = time.perf_counter()
        try:
            data.ensure_available(name, allow_download)
            counts = [len(data.load(name, split, allow_download=False)[1]) for split in data.SPLITS]
            where = _share_data(name, into) if into else data.find_files(name, "train")[0].parent
            report.append({"step": f"data: {name}", "ok": True, "seconds": time.perf_counter() - started,
                           "detail": f"{counts[0]:,} + {counts[1]:,} images verified in {where}"})
        except (data.DataNotFoundError, data.CorruptDataError) as error:
            report.append({"step": f"data: {name}", "ok": False, "detail": str(error), "seconds": 0.0})
            return
    paths = [Path(p) for p in (notebooks if notebooks is not None else runner.notebooks())]
    with tempfile.TemporaryDirectory() as scratch:
        ledger = Path(scratch) / "ledger.txt"
        variables = {config.PROFILE_VARIABLE: profile.name, config.LEDGER_VARIABLE: str(ledger),
                     **({config.HOME_VARIABLE: str(into)} if into else {})}
        with runner.environment(**variables):
            chosen = _jobs_for(profile, paths) if jobs is None else list(jobs)
            report += _run_everything(chosen, paths, profile, into or config.home_dir(), workers, progress,
                                      Path(scratch))
            ledgers = [ledger, *sorted(Path(scratch).glob("ledger-*.txt"))]  # the jobs', then each notebook's
            used = list(dict.fromkeys(entry for path in ledgers for entry in cache.used_files(path)))
            if into is not None:
                report.append(_gather(into, used))
            report.append(_verify(into or config.home_dir(), used))
            if pack is not None and all(row["ok"] for row in report):
                report.append(_pack(pack, profile, used))
            elif pack is not None:  # an archive missing a failed step's files would mislead the room it is handed to
                report.append({"step": f"pack: {pack}", "ok": False, "seconds": 0.0,
                               "detail": "not written, since a step above failed"})


def _jobs_for(profile: config.Profile, paths: list[Path]) -> list[plan.Job]:
    """The plan's jobs of the selected notebooks (a job's name starts with its notebook's number), and the jobs
    they wait for."""
    every = plan.jobs(profile)
    numbers = {path.name[:2] for path in paths}
    chosen = {job.name for job in every if job.name[:2] in numbers}
    while True:
        needed = {name for job in every if job.name in chosen for name in job.waits_for} - chosen
        if not needed:
            return [job for job in every if job.name in chosen]
        chosen |= needed


def _run_everything(chosen: list[plan.Job], paths: list[Path], profile: config.Profile, home: Path,
                    workers: int | None, progress: bool, scratch: Path) -> list[dict]:
    """Run the jobs side by side, and each notebook once the jobs it reads have ended and a worker has no job ready
    for it, so the first notebooks run while the last jobs train; a report row per job, then one per notebook."""
    workers = max(1, workers or plan.default_workers())
    names = {job.name for job in chosen}
    needs = {path: {job.name for job in _jobs_for(profile, [path])} & names for path in paths}
    notebooks = _Notebooks(needs, profile, home, workers, scratch, progress)
    try:
        rows = _run_jobs(chosen, profile, workers, progress, notebooks)
        notebooks.jobs_over(workers)
        return rows + notebooks.rows()
    except KeyboardInterrupt:
        notebooks.stop()
        raise


def _run_jobs(chosen: list[plan.Job], profile: config.Profile, workers: int, progress: bool,
              notebooks: "_Notebooks") -> list[dict]:
    """Run the jobs side by side, telling ``notebooks`` of each job's end and of the workers to spare; a report row
    per job."""
    if not chosen:
        return []
    bar = tqdm(total=len(chosen), desc=f"training ({profile.name} profile)", unit="job", disable=not progress)
    rows = []

    def finished(outcome: plan.Outcome) -> None:
        rows.append({"step": f"job: {outcome.name}", "ok": outcome.error is None, "seconds": outcome.seconds,
                     "detail": _last_line(outcome.error) if outcome.error else "trained or computed, cached"})
        notebooks.job_ended(outcome.name)
        bar.update()

    plan.run(chosen, profile, workers, progress=finished, spare=notebooks.jobs_over)
    bar.close()
    return rows


def _gather(into: Path, used: list[str]) -> dict:
    """Copy into ``into`` the cached files the notebooks used that were found elsewhere (an older prepared folder
    named by KDVIZ_DATA), so that ``into`` holds everything by itself."""
    started, copied = time.perf_counter(), 0
    try:
        for entry in used:
            kind, filename = entry.split("/", 1)
            if not (into / entry).is_file():
                source = next((folder / filename for folder in cache.folders(kind) if (folder / filename).is_file()), None)
                if source is not None:
                    _copy_verified(source, into / entry)
                    copied += 1
    except OSError as error:
        return {"step": f"gather into {into}", "ok": False, "seconds": time.perf_counter() - started,
                "detail": _last_line(error)}
    return {"step": f"gather into {into}", "ok": True, "seconds": time.perf_counter() - started,
            "detail": f"{copied} cached files copied from other folders" if copied else "everything was made there"}


def _verify(folder: Path, used: list[str]) -> dict:
    """Read ``folder`` back as a participant would: every cached file the notebooks used must be there and load
    (JSON results, weights-only checkpoints). The row names what is missing or unreadable."""
    started, problems = time.perf_counter(), []
    for entry in used:
        path = folder / entry
        try:
            if path.suffix == ".json":
                if not isinstance(json.loads(path.read_text()), dict):
                    raise ValueError("not a stored result")
            else:
                torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            problems.append(f"{entry} (missing)")
        except Exception as error:  # any way a file can be unreadable: name it
            problems.append(f"{entry} ({_last_line(error)[:80]})")
    detail = (f"all {len(used)} cached files the notebooks used load from it" if not problems else
              f"{len(problems)} of {len(used)} cached files do not load from it: " + "; ".join(problems[:5])
              + (" ..." if len(problems) > 5 else ""))
    return {"step": f"verify {folder}", "ok": not problems, "seconds": time.perf_counter() - started, "detail": detail}


def _cached_files(home: Path) -> set[Path]:
    return {path for kind in ("checkpoints", "results") for path in (home / kind).glob("*") if path.is_file()}


CELL_TIMEOUT = 900  # seconds: after the jobs, every cell only reads the cache


class _Notebooks:
    """The notebooks, run in threads of their own, each as soon as the jobs it ``needs`` have ended and a worker is
    spare (no job ready for it); at most ``workers`` at a time, the earliest ready first. On the CPU each kernel gets
    its share of the cores. Each kernel notes the cached files it uses in a ledger of its own in ``scratch``."""

    def __init__(self, needs: dict[Path, set[str]], profile: config.Profile, home: Path, workers: int, scratch: Path,
                 progress: bool) -> None:
        self.needs, self.profile, self.home, self.scratch = needs, profile, home, scratch
        self.positions = {path: position for position, path in enumerate(needs)}
        on_cpu = config.pick_device().type == "cpu"
        cores = max(1, config.available_cores() // workers)
        self.variables = {"OMP_NUM_THREADS": str(cores)} if workers > 1 and on_cpu else {}
        self.pending, self.ended, self.spare, self.running = list(needs), set(), 0, 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.finished: queue.SimpleQueue = queue.SimpleQueue()
        self.bar = tqdm(total=len(needs), desc=f"notebooks ({profile.name} profile)", unit="notebook",
                        disable=not progress or not needs)
        for number in range(min(workers, len(needs))):
            threading.Thread(target=self._work, name=f"notebooks {number}", daemon=True).start()

    def job_ended(self, name: str) -> None:
        with self.changed:
            self.ended.add(name)
            self.changed.notify_all()

    def jobs_over(self, spare: int) -> None:
        """``spare`` workers have no job to run (all of them, once the jobs are over)."""
        with self.changed:
            self.spare = spare
            self.changed.notify_all()

    def _next(self) -> Path | None:
        """The next notebook to run, once one may start; None when none is left or Ctrl-C stops the run."""
        with self.changed:
            while not self.stopping.is_set():
                ready = [path for path in self.pending if self.needs[path] <= self.ended]
                if not self.pending:
                    return None
                if ready and self.running < self.spare:
                    self.pending.remove(ready[0])
                    self.running += 1
                    return ready[0]
                self.changed.wait(0.5)
        return None

    def _work(self) -> None:
        while (path := self._next()) is not None:
            position = self.positions[path]
            ledger = self.scratch / f"ledger-{position:02d}.txt"
            try:
                row = _execute(path, self.profile, self.home, _cached_files(self.home),
                               {**self.variables, config.LEDGER_VARIABLE: str(ledger)}, ledger)
            except BaseException as error:  # Ctrl-C's kill, or anything else: the waiting thread hears of it
                row = {"step": f"notebook: {path.name}", "ok": False, "seconds": 0.0, "detail": _last_line(error)}
            with self.changed:
                self.running -= 1
                self.changed.notify_all()
            self.finished.put((position, row))

    def rows(self) -> list[dict]:
        """Wait for every notebook; a report row per notebook, in notebook order."""
        rows: dict[int, dict] = {}
        while len(rows) < len(self.needs):
            try:
                position, row = self.finished.get(timeout=0.2)
            except queue.Empty:
                continue
            rows[position] = row
            self.bar.update()
        self.bar.close()
        return [rows[position] for position in range(len(self.needs))]

    def stop(self) -> None:
        """Ctrl-C: start no other notebook, and kill every running kernel at once."""
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
        runner.stop_all()
        self.bar.close()


def _execute(path: Path, profile: config.Profile, home: Path, before: set[Path], variables: dict[str, str],
             ledger: Path) -> dict:
    """Run a notebook; its row says how many cached files it had to make itself (none, when the plan covers it):
    those its ``ledger`` names that were not in ``home`` ``before`` the notebooks ran. A cell that never returns
    (nbclient can wait forever after a widget cell: jupyter/nbclient#312) is given ``CELL_TIMEOUT`` seconds, and
    the notebook one more try."""
    try:
        try:
            seconds, _ = runner.execute(path, profile.name, home=home, timeout=CELL_TIMEOUT, variables=variables)
            retried = ""
        except CellTimeoutError:
            seconds, _ = runner.execute(path, profile.name, home=home, timeout=CELL_TIMEOUT, variables=variables)
            retried = f" (second try: the first waited {CELL_TIMEOUT} s on a cell)"
        made = len({home / entry for entry in cache.used_files(ledger) if (home / entry).is_file()} - before)
        detail = "ran from the cache" if not made else f"ran, and computed {made} cached files itself"
        return {"step": f"notebook: {path.name}", "ok": True, "seconds": seconds, "detail": detail + retried}
    except Exception as error:  # a notebook may fail in any way; say which and how, and go on
        if _CTRL_C.is_set():  # the kernel was interrupted by Ctrl-C, not broken: stop
            raise KeyboardInterrupt from error
        return {"step": f"notebook: {path.name}", "ok": False, "detail": _last_line(error), "seconds": 0.0}


def _last_line(error: Exception | str) -> str:
    lines = [line for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def _pack(archive: Path, profile: config.Profile, used: list[str]) -> dict:
    """Pack the cached files the notebooks used (from KDVIZ_DATA or KDVIZ_HOME, wherever each was found) and the
    data set's files into ``archive``."""
    started = time.perf_counter()
    sources = {}
    for name in DATASETS:  # the data as KDVIZ_HOME lays it out: data/<folder>/
        for split in data.SPLITS:
            for source in data.find_files(name, split):
                sources[f"data/{data.dataset_info(name).folder}/{source.name}"] = source
    for entry in used:
        kind, filename = entry.split("/", 1)
        sources[entry] = next(folder / filename for folder in cache.folders(kind) if (folder / filename).is_file())
    manifest = pack_module.write(archive, sources, profile)
    size = Path(archive).stat().st_size
    return {"step": f"pack: {archive}", "ok": True, "seconds": time.perf_counter() - started,
            "detail": f"{len(manifest['files'])} files, {size / 1e6:.1f} MB"}


def summary(report: list[dict], into: Path | None = None) -> str:
    """The report as a table a person reads (each step's time), with what to do next."""
    width = max((len(row["step"]) for row in report), default=0)
    lines = [f"{'ok    ' if row['ok'] else 'FAILED'}  {row['step']:<{width}}  {_minutes(row.get('seconds', 0.0)):>8}  "
             f"{row['detail']}" for row in report]
    if into and all(row["ok"] for row in report):
        lines.append(f"done: point the room at it with KDVIZ_DATA={into} (read-only is fine)")
    elif all(row["ok"] for row in report):
        lines.append(f"done: everything is cached in {config.home_dir()}")
    elif any(row["step"] == "stopped by Ctrl-C" for row in report):
        lines.append("stopped: run the same command again to go on from where it stopped")
    else:
        lines.append("some steps failed (above); run the command again after fixing them: finished steps are kept")
    return os.linesep.join(lines)


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"
