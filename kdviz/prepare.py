"""Prepare a machine, or a shared folder for a room, before a workshop: fetch and verify the data, then run every
notebook once in the chosen profile so that every model and result it uses is trained and cached
(``python -m kdviz prepare``). Safe to interrupt and run again: every file is written whole, and what is cached
is not computed twice."""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from kdviz import cache, config, data, runner

DATASETS = ("fashion-mnist",)  # what the notebooks read


def _share_data(name: str, into: Path) -> Path:
    """Copy a data set's verified files into ``into/<folder>/``, readable by everyone (a KDVIZ_DATA layout)."""
    folder = into / data.dataset_info(name).folder
    for split in data.SPLITS:
        for source in data.find_files(name, split):
            target = folder / source.name
            if not target.is_file() or target.stat().st_size != source.stat().st_size:
                payload = source.read_bytes()
                cache.atomic_write(target, lambda stream, payload=payload: stream.write(payload))
    return folder


def prepare(profile: str | None = "full", *, into: Path | None = None, notebooks: Sequence[Path] | None = None,
            allow_download: bool = True, progress: bool = True) -> list[dict]:
    """Fetch the data and run the notebooks; one report row per step: {"step", "ok", "detail"}.

    With ``into`` the checkpoints, results and data go to that folder (laid out for ``KDVIZ_DATA``), not to
    ``KDVIZ_HOME``. A missing data set stops the run, since no notebook can work without it; a failing notebook
    is reported and the others still run.
    """
    profile = config.get_profile(profile).name
    into = Path(into).expanduser().resolve() if into else None
    report = []
    for name in DATASETS:
        try:
            data.ensure_available(name, allow_download)
            counts = [len(data.load(name, split, allow_download=False)[1]) for split in data.SPLITS]
            where = _share_data(name, into) if into else data.find_files(name, "train")[0].parent
            report.append({"step": f"data: {name}", "ok": True,
                           "detail": f"{counts[0]:,} + {counts[1]:,} images verified in {where}"})
        except (data.DataNotFoundError, data.CorruptDataError) as error:
            report.append({"step": f"data: {name}", "ok": False, "detail": str(error)})
            return report
    paths = list(notebooks) if notebooks is not None else runner.notebooks()
    for path in tqdm(paths, desc=f"notebooks ({profile} profile)", unit="notebook", disable=not progress):
        try:
            seconds, _ = runner.execute(Path(path), profile, home=into)
            report.append({"step": f"notebook: {Path(path).name}", "ok": True, "detail": f"ran in {seconds:.0f} s"})
        except Exception as error:  # a notebook may fail in any way; say which and how, and go on
            lines = [line for line in str(error).splitlines() if line.strip()]
            report.append({"step": f"notebook: {Path(path).name}", "ok": False,
                           "detail": lines[-1] if lines else type(error).__name__})
    return report


def summary(report: list[dict], into: Path | None = None) -> str:
    """The report as lines a person reads, with what to do next."""
    lines = [f"{'ok    ' if row['ok'] else 'FAILED'}  {row['step']}: {row['detail']}" for row in report]
    if into and all(row["ok"] for row in report):
        lines.append(f"done: point the room at it with KDVIZ_DATA={into} (read-only is fine)")
    elif all(row["ok"] for row in report):
        lines.append(f"done: everything is cached in {config.home_dir()}")
    else:
        lines.append("some steps failed (above); run the command again after fixing them: finished steps are kept")
    return os.linesep.join(lines)
