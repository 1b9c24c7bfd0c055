"""Training histories as TensorBoard event files (introduced in 00): off by default; ``KDVIZ_TENSORBOARD=1`` (or
a folder) makes every training run write its curves as it trains, and :func:`write_history` writes any history,
a cached one included. TensorBoard is an optional dependency (``pip install tensorboard``)."""
from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kdviz import config

VARIABLE = "KDVIZ_TENSORBOARD"
OFF = ("", "0", "off", "false", "no")
ON = ("1", "on", "true", "yes")
# how a history's record keys are grouped in TensorBoard: one chart per measure, train and test curves together
_RUNS = itertools.count(1)
TAGS = {"train_loss": "loss/train", "test_loss": "loss/test", "train_accuracy": "accuracy/train",
        "test_accuracy": "accuracy/test", "seconds": "seconds per epoch"}


def default_folder() -> Path:
    """Where event files go unless a folder is named: ``tensorboard`` under ``KDVIZ_HOME``."""
    return config.home_dir() / "tensorboard"


def folder() -> Path | None:
    """The folder that ``KDVIZ_TENSORBOARD`` names (``1``: :func:`default_folder`), or None while it is unset or
    off: then training writes no event files."""
    value = os.environ.get(VARIABLE, "").strip()
    if value.lower() in OFF:
        return None
    chosen = default_folder() if value.lower() in ON else Path(value).expanduser()
    if chosen.exists() and not chosen.is_dir():
        raise ValueError(f"{VARIABLE} must be 1, 0 or a folder, got {value!r}, which is a file")
    return chosen


def _summary_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as error:
        raise ModuleNotFoundError(
            "TensorBoard is not installed: pip install tensorboard (requirements.txt pins it), or unset "
            f"{VARIABLE}") from error
    return SummaryWriter(log_dir=str(log_dir))


def run_folder(run: str, root: Path | str | None = None) -> Path:
    """A run's folder under ``root`` (default: :func:`folder`, else :func:`default_folder`): the run's name made
    safe for a path. TensorBoard lists each folder as one run."""
    if not isinstance(run, str) or not run.strip():
        raise ValueError(f"run must be a non-empty name, got {run!r}")
    root = Path(root).expanduser() if root is not None else folder() or default_folder()
    return root / re.sub(r"[^A-Za-z0-9._-]+", "_", run.strip())


def shown(path: Path) -> str:
    """A path as a learner would type it: the home folder written ``~``."""
    home, text = Path.home().as_posix(), Path(path).as_posix()
    return "~" + text[len(home):] if text == home or text.startswith(home + "/") else text


def write_record(writer: Any, record: dict) -> None:
    """One epoch's record (``train.History``'s) as scalars at step ``epoch``."""
    for key, tag in TAGS.items():
        if record.get(key) is not None:
            writer.add_scalar(tag, float(record[key]), int(record["epoch"]))


def write_history(records: Sequence[dict], run: str, root: Path | str | None = None) -> Path:
    """Write a whole history (``train.History.records``, e.g. a cached model's) as event files in the run's folder
    (:func:`run_folder`), replacing what an earlier call wrote there; that folder."""
    if not records or any("epoch" not in record for record in records):
        raise ValueError("records must be a non-empty list of epoch records, each with an 'epoch' (History.records)")
    target = run_folder(run, root)
    for old in target.glob("events.out.tfevents.*"):
        old.unlink()  # the same history written twice would draw each curve twice
    writer = _summary_writer(target)
    try:
        for record in records:
            write_record(writer, record)
    finally:
        writer.close()
    return target


def live_writer(description: str) -> Any | None:
    """A writer for a training run that starts now, if ``KDVIZ_TENSORBOARD`` is on (None otherwise): its folder is
    the run's description and the time it started."""
    root = folder()
    if root is None:
        return None
    started = time.strftime("%Y-%m-%d %H-%M-%S")  # with the process and a count: runs of one second stay apart
    return _summary_writer(run_folder(f"{description} {started} {os.getpid()}-{next(_RUNS)}", root))
