"""Atomic writes and a JSON cache of measured results, keyed by what produced them (introduced in 04)."""
from __future__ import annotations

import contextvars
import glob
import hashlib
import io
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import torch

from kdviz import config


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file through ``write(stream)`` into a temporary file beside it, then rename: never half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.{os.getpid()}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a shared KDVIZ_DATA must be readable by all
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _remove_orphans(path: Path) -> None:
    """Remove the temporary files of earlier writes of ``path`` whose process no longer runs (killed mid-write,
    where no cleanup could run)."""
    for orphan in path.parent.glob(f"{glob.escape(path.name)}.*.tmp"):
        pid = orphan.name[len(path.name) + 1:].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            orphan.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def key(settings: dict) -> str:
    """A short, stable hash of JSON-able settings."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def folders(kind: str) -> list[Path]:
    """Where cached ``kind`` files ("checkpoints", "results") are looked for: KDVIZ_DATA's (prepared, read-only)
    first, then KDVIZ_HOME's, the one kdviz writes."""
    shared = config.shared_data_dir()
    return ([shared / kind] if shared else []) + [config.home_dir() / kind]


def record_use(path: Path) -> None:
    """Note a cached file that was read or written as ``<kind>/<name>`` in the ledger file ``KDVIZ_LEDGER`` names,
    if any: what ``python -m kdviz prepare --pack`` puts in its archive."""
    ledger = os.environ.get(config.LEDGER_VARIABLE)
    if ledger:
        with open(ledger, "a", encoding="utf-8") as stream:  # one short line per append: lines never interleave
            stream.write(f"{path.parent.name}/{path.name}\n")


def used_files(ledger: Path) -> list[str]:
    """The distinct ``<kind>/<name>`` entries of a ledger, in order of first use."""
    lines = Path(ledger).read_text(encoding="utf-8").splitlines() if Path(ledger).is_file() else []
    return list(dict.fromkeys(line for line in lines if line.strip()))


class NotCached(LookupError):
    """Raised inside :func:`only_cached` where a result or a model would have to be computed."""


_ONLY_CACHED = contextvars.ContextVar("only_cached", default=False)


@contextmanager
def only_cached() -> Iterator[None]:
    """Within this block, cached results and checkpoints are read but nothing is computed or trained: what is
    missing raises :class:`NotCached` (how notebook 05 gathers the models the other notebooks made)."""
    token = _ONLY_CACHED.set(True)
    try:
        yield
    finally:
        _ONLY_CACHED.reset(token)


class HomeNotWritable(PermissionError):
    """KDVIZ_HOME cannot be written: said before any work is done, so that none is lost."""


def validate_may_compute(what: str) -> None:
    """Raise :class:`NotCached` naming ``what`` inside :func:`only_cached`; outside it, make sure the result can
    be stored (:class:`HomeNotWritable` before training, not after)."""
    if _ONLY_CACHED.get():
        raise NotCached(f"{what} is not in the cache yet (run the notebook that makes it, or python -m kdviz prepare)")
    home = config.home_dir()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise HomeNotWritable(f"KDVIZ_HOME ({home}) must be a folder kdviz can write, to store {what} "
                              f"({error.strerror or error}): set KDVIZ_HOME to a writable folder") from None


def _damaged(path: Path, reason: object) -> None:
    first_line = next((line.strip() for line in str(reason).splitlines() if line.strip()), type(reason).__name__)
    warnings.warn(f"cached file {path} is damaged ({first_line[:120]}); computing it again", stacklevel=3)


def cached_result(kind: str, settings: dict, compute: Callable[[], dict]) -> dict:
    """The stored result of ``compute()`` for these settings, computed and stored (as JSON) if missing."""
    filename = f"{kind}-{key(settings)}.json"
    for folder in folders("results"):
        path = folder / filename
        if path.is_file():
            try:
                stored = json.loads(path.read_text())
                if not isinstance(stored, dict) or not isinstance(stored.get("result"), dict):
                    raise ValueError("not a stored result")
                if stored.get("settings") == json.loads(json.dumps(settings)):
                    record_use(path)
                    return stored["result"]
            except (OSError, ValueError) as error:  # computed again below and rewritten whole
                _damaged(path, error)
    validate_may_compute(kind)
    result = compute()
    payload = json.dumps({"settings": settings, "result": result}).encode()
    target = config.home_dir() / "results" / filename
    atomic_write(target, lambda stream: stream.write(payload))
    record_use(target)
    return result


def cached_tensors(kind: str, settings: dict, compute: Callable[[], object],
                   accept: Callable[[object], bool] = lambda value: True) -> object:
    """Tensors (or a dict of them) stored with ``torch.save`` and read back with ``weights_only=True``; computed
    and stored if missing, unreadable, or not what ``accept`` expects."""
    filename = f"{kind}-{key(settings)}.pt"
    for folder in folders("results"):
        path = folder / filename
        if path.is_file():
            try:
                value = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as error:  # damaged: computed again below and rewritten whole
                _damaged(path, error)
                continue
            if accept(value):
                record_use(path)
                return value
            _damaged(path, "not what was stored there")
    validate_may_compute(kind)
    value = compute()
    buffer = io.BytesIO()
    torch.save(value, buffer)
    target = config.home_dir() / "results" / filename
    atomic_write(target, lambda stream: stream.write(buffer.getvalue()))
    record_use(target)
    return value


def cached_model(kind: str, settings: dict, model: torch.nn.Module,
                 compute: Callable[[torch.nn.Module], dict]) -> tuple[torch.nn.Module, dict]:
    """A model trained or pruned by ``compute(model) -> result`` (it changes the model in place), kept as weights
    plus the JSON result in one file; on a later call the weights are loaded into ``model`` instead."""
    expected = {name: value.shape for name, value in model.state_dict().items()}

    def accept(payload: object) -> bool:
        if not isinstance(payload, dict) or not isinstance(payload.get("result"), str):
            return False
        weights = payload.get("state_dict")
        return isinstance(weights, dict) and {name: getattr(value, "shape", None) for name, value in weights.items()} \
            == expected

    payload = cached_tensors(kind, settings, lambda: _model_payload(model, compute(model)), accept)
    model.load_state_dict(payload["state_dict"])
    return model, json.loads(payload["result"])


def _model_payload(model: torch.nn.Module, result: dict) -> dict:
    return {"state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}, "result": json.dumps(result)}
