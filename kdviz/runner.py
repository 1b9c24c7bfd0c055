"""Execute a notebook of the workbook in a fresh kernel, in a chosen profile, timing it and reading the kernel's
peak memory (used by ``scripts/execute_notebooks.py`` and ``python -m kdviz prepare``)."""
from __future__ import annotations

import contextlib
import html
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from queue import Empty

import nbformat
import psutil
from jupyter_client.client import KernelClient
from jupyter_core.utils import ensure_async
from nbclient import NotebookClient

from kdviz import config

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def notebooks(folder: Path = NOTEBOOKS_DIR) -> list[Path]:
    """The workbook's notebooks in order; a clear error where kdviz was installed without them."""
    paths = sorted(Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no notebooks in {folder}: run this from a clone of the repository "
                                "(pip install -e . keeps the notebooks beside the package)")
    return paths


def poll_in_slices(channel: object, slice_seconds: float = 1.0) -> None:
    """Make ``channel.get_msg(timeout)`` wait in slices of ``slice_seconds``, looking again after each: one long wait
    on a kernel's shell socket can miss a reply that arrives while a cell's widgets talk to the kernel, and then
    never ends (jupyter/nbclient#312). The deadline of ``timeout`` (None: none) is kept."""
    wait_once = channel.get_msg

    async def get_msg(timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = slice_seconds if deadline is None else max(0.0, min(slice_seconds, deadline - time.monotonic()))
            try:
                return await ensure_async(wait_once(timeout=left))
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    channel.get_msg = get_msg


class _Client(NotebookClient):
    """nbclient's notebook client, waiting for each reply of the kernel in slices (:func:`poll_in_slices`)."""

    async def async_start_new_kernel_client(self) -> KernelClient:
        kernel_client = await super().async_start_new_kernel_client()
        poll_in_slices(kernel_client.shell_channel)
        return kernel_client


_RUNNING: set[NotebookClient] = set()  # notebooks executing now, in any thread (stop_all's list)
_RUNNING_LOCK = threading.Lock()


def _kill_kernel(client: NotebookClient) -> None:
    process = getattr(getattr(getattr(client, "km", None), "provisioner", None), "process", None)
    if process is not None:
        process.kill()


def stop_all() -> None:
    """Kill the kernel of every notebook executing now, in this thread or another (Ctrl-C during notebooks run
    side by side); each :func:`execute` then fails at once."""
    with _RUNNING_LOCK:
        clients = list(_RUNNING)
    for client in clients:
        _kill_kernel(client)


def _execute_interruptibly(client: NotebookClient, variables: dict[str, str]) -> None:
    """``client.execute()`` in a kernel whose environment adds ``variables``, with Ctrl-C stopping it at once: the
    client runs in a thread of its own (where nbclient does not take over SIGINT, which it would otherwise turn into
    an unexplained failure of the cell), and Ctrl-C in this thread kills the kernel and raises KeyboardInterrupt
    here."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            client.execute(env=callers_folders({**os.environ, **variables}))
        except BaseException as error:  # handed to the caller's thread as it is
            failure.append(error)

    worker = threading.Thread(target=run, name="notebook", daemon=True)
    with _RUNNING_LOCK:
        _RUNNING.add(client)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        _kill_kernel(client)
        worker.join(30)
        raise
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(client)
    if failure:
        raise failure[0]


PATH_VARIABLES = (config.HOME_VARIABLE, config.DATA_VARIABLE, config.LEDGER_VARIABLE)


def callers_folders(env: dict[str, str]) -> dict[str, str]:
    """``env`` with relative folders made absolute against this process's folder: a kernel runs in its notebook's
    folder, where a relative ``KDVIZ_HOME`` would name another place than the one the caller (and ``info``) means."""
    return {name: str(Path(value).expanduser().absolute()) if name in PATH_VARIABLES and value else value
            for name, value in env.items()}


def kernel_peak_rss_mb(client: NotebookClient) -> float | None:
    """Peak resident memory of the kernel process so far (Linux VmHWM; elsewhere the current RSS)."""
    try:
        pid = client.km.provisioner.process.pid
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (AttributeError, OSError, ValueError):
        pass
    try:
        return psutil.Process(client.km.provisioner.process.pid).memory_info().rss / 2**20
    except Exception:
        return None


@contextlib.contextmanager
def environment(**values: str) -> Iterator[None]:
    """Set environment variables for the block (a kernel started inside inherits them), then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BAR_WIDTH = 10


def _progress_text(models: dict, model_id: str) -> str | None:
    """The final text of a tqdm.notebook bar (an HBox of HTML, FloatProgress, HTML) in the saved widget state, as
    tqdm prints it in a terminal; None for any other widget."""
    box = models.get(model_id, {})
    children = [models.get(str(c).removeprefix("IPY_MODEL_"), {}) for c in box.get("state", {}).get("children", [])]
    names = [child.get("model_name") for child in children]
    if box.get("model_name") != "HBoxModel" or names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (child.get("state", {}) for child in children)
    total = bar.get("max") or 0
    filled = round(BAR_WIDTH * min(1.0, bar.get("value", 0) / total)) if total else 0

    def plain(text: str) -> str:
        return html.unescape(text).replace("\u2007", " ")

    return f"{plain(left.get('value', ''))}|{'█' * filled}{' ' * (BAR_WIDTH - filled)}|{plain(right.get('value', ''))}"


def settle_progress_bars(notebook: nbformat.NotebookNode) -> int:
    """Give each progress bar's stored plain text its final state (the text shown where widgets do not run: a notebook
    opened before running it, a page that renders notebooks, the website), instead of the 0 % it had when it was
    first displayed. Returns the number of bars rewritten."""
    models = notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    settled = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            text = _progress_text(models, view.get("model_id", "")) if view else None
            if text is not None:
                output["data"]["text/plain"] = text
                settled += 1
    return settled


def execute(path: Path, profile: str, *, write: bool = False, timeout: int = 7200, home: Path | None = None,
            variables: dict[str, str] | None = None) -> tuple[float, float | None]:
    """Run every cell of the notebook in a new kernel (``KDVIZ_PROFILE=profile``, ``KDVIZ_HOME=home`` if given,
    and any other ``variables`` in its environment; this process's own is left alone, so notebooks can run side by
    side from threads); write the outputs back into the file if ``write``. Returns the seconds taken and the
    kernel's peak MB."""
    profile = config.get_profile(profile).name
    notebook = nbformat.read(path, as_version=4)
    client = _Client(notebook, timeout=timeout, kernel_name="python3",
                     resources={"metadata": {"path": str(Path(path).parent)}})
    peaks: list[float] = []

    def after_cell(**_) -> None:  # VmHWM only grows, so the last reading is the kernel's peak
        reading = kernel_peak_rss_mb(client)
        if reading is not None:
            peaks.append(reading)

    client.on_cell_executed = after_cell
    kernel_variables = {**(variables or {}), config.PROFILE_VARIABLE: profile,
                        **({config.HOME_VARIABLE: str(home)} if home else {})}
    started = time.perf_counter()
    _execute_interruptibly(client, kernel_variables)
    seconds = time.perf_counter() - started
    if write:
        settle_progress_bars(notebook)
        nbformat.write(notebook, path)
    return seconds, max(peaks, default=None)
