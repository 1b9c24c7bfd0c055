"""Browser tests: notebooks of the workbook, run through JupyterLab in headless Chromium.

What the smoke test of the first notebook checks, as a person would see it:

* JupyterLab starts (on a free loopback port, with a random token, in the quick profile) and opens
  ``00_why_compress.ipynb`` from a copy of ``notebooks/`` (the repository's notebooks are never modified);
* the kernel starts, and Run > Run All Cells runs every code cell to the end;
* the first code cell prints the ``kdviz | profile: quick ...`` banner of ``kdviz.setup()``;
* at least one image (a matplotlib figure) is shown in an output;
* an ipywidgets widget (the data set explorer) is rendered;
* no output is an error traceback, and every code cell got an execution count.
* a prediction widget takes a choice, locks on Commit, and running its reveal cell again prints that choice
  beside the measured answer.

The explorer tests run ``04_knowledge_distillation.ipynb``, ``02_pruning.ipynb`` and ``05_better_together.ipynb``
the same way (no traceback, every cell ran, the banner), then move the temperature explorer's "T" slider or the
sparsity explorer's "sparsity" slider with the keyboard, or press the Pareto explorer's latency button, as a person
would, and check that the control changed and that the kernel sent a new picture (the widget's image changed).

It needs Debian's chromium (``/usr/bin/chromium`` or ``chromium`` on PATH) and the playwright Python package (no
browser is downloaded). Without them it is skipped, unless ``KDVIZ_REQUIRE_BROWSER=1``, which turns the skip into
a failure. On a failure in the browser a screenshot is saved in the test's tmp_path; its path is in the message.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOK = "00_why_compress.ipynb"
KD_NOTEBOOK = "04_knowledge_distillation.ipynb"
PRUNING_NOTEBOOK = "02_pruning.ipynb"
PARETO_NOTEBOOK = "05_better_together.ipynb"
ARCHITECTURES_NOTEBOOK = "01_efficient_architectures.ipynb"
PARETO_BUTTON = "ms per batch of 256"
BANNER = "kdviz | profile: quick"

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium's connections are refused on a closed network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REQUIRE_VARIABLE = "KDVIZ_REQUIRE_BROWSER"
ENVIRONMENT_AT_IMPORT = dict(os.environ)  # before fixtures (tests/conftest.py) change KDVIZ_HOME and KDVIZ_DATA

SERVER_START_TIMEOUT_S = 90
NOTEBOOK_OPEN_TIMEOUT_S = 120
KERNEL_READY_TIMEOUT_S = 120
RUN_START_TIMEOUT_S = 30
RUN_ALL_TIMEOUT_S = 240
KD_RUN_ALL_TIMEOUT_S = 420  # notebook 04 trains many small students when KDVIZ_HOME has no checkpoints yet
PRUNING_RUN_ALL_TIMEOUT_S = 420  # notebook 02 prunes and fine-tunes the teacher when nothing is cached yet
PARETO_RUN_ALL_TIMEOUT_S = 420  # notebook 05 trains its students, and the teacher when nothing is cached yet
ARCHITECTURES_RUN_ALL_TIMEOUT_S = 420  # notebook 01 trains its twins and factorizes the teacher when nothing is cached
SHOWN_TIMEOUT_S = 20
WIDGET_UPDATE_TIMEOUT_S = 30

# Selectors of JupyterLab 4's notebook view.
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"
# The status bar's kernel item reads e.g. "Python 3 (ipykernel) | Idle" ("No Kernel | Initializing" at first).
KERNEL_STATUS = '#jp-main-statusbar .jp-StatusBar-TextItem[title^="Change kernel"]'
OUTPUT = f"{PANEL} .jp-OutputArea-output"
# An error output is rendered as stderr text; IPython's tracebacks carry one of these (warnings and progress bars don't).
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+", re.MULTILINE)


# --- requirements -------------------------------------------------------------------------------------------------

def _missing(reason: str) -> NoReturn:
    """Skip for a missing browser requirement, or fail if KDVIZ_REQUIRE_BROWSER=1 asks for the browser test."""
    if os.environ.get(REQUIRE_VARIABLE) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_VARIABLE}=1 requires the browser test", pytrace=False)
    pytest.skip(f"{reason} (install Debian's chromium and the playwright package to run the browser test)")


def _find_chromium() -> str | None:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def chromium_path() -> str:
    """Path of the chromium executable; skips (or fails) when chromium or playwright is missing."""
    return browser_requirements()


def browser_requirements() -> str:
    """Path of the chromium executable, once playwright is known to be installed too; otherwise :func:`_missing`."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright Python package is not installed")
    path = _find_chromium()
    if path is None:
        _missing(f"chromium is not installed (neither {CHROMIUM} nor `chromium` on PATH)")
    return path


# --- JupyterLab server --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LabServer:
    base_url: str
    token: str
    root: Path
    log: Path

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{separator}token={self.token}"

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _copy_notebooks(destination: Path) -> Path:
    if not (NOTEBOOKS_DIR / NOTEBOOK).is_file():
        pytest.fail(f"the notebook to open in JupyterLab is missing: {NOTEBOOKS_DIR / NOTEBOOK}", pytrace=False)
    shutil.copytree(NOTEBOOKS_DIR, destination, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return destination


def _server_environment(tmp_path: Path) -> dict[str, str]:
    """The environment pytest was started with, in the quick profile; the kernel inherits it.

    It is the environment seen when this module was imported, before any fixture ran: tests/conftest.py gives
    every test its own empty KDVIZ_HOME and removes KDVIZ_DATA, whereas the notebook should run as it does for a
    person (and for nbval): with the KDVIZ_HOME (cached checkpoints) and KDVIZ_DATA that were set, if any.
    """
    env = dict(ENVIRONMENT_AT_IMPORT, KDVIZ_PROFILE="quick", PYTHONUNBUFFERED="1",
               JUPYTER_RUNTIME_DIR=str(tmp_path / "jupyter-runtime"))
    env.pop("MPLBACKEND", None)  # let the kernel use the inline backend, as in a person's JupyterLab
    return env


def _write_lab_settings(folder: Path) -> Path:
    """User settings for a fresh JupyterLab: no news or update checks, so no toast covers the notebook."""
    notification = folder / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return folder


def _lab_command(port: int, token: str, root: Path, tmp_path: Path) -> list[str]:
    return [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
        # nothing that reaches the internet: news, update checks, the PyPI extension manager
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
        # a fresh workspace and our own settings, whatever the user's JupyterLab remembers
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
        f"--LabApp.user_settings_dir={_write_lab_settings(tmp_path / 'lab-settings')}",
    ]


def _wait_for_server(process: subprocess.Popen, server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"JupyterLab exited with code {process.returncode} before answering; its log:\n"
                        f"{server.log_tail()}", pytrace=False)
        try:
            with urllib.request.urlopen(server.url("/api/status"), timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer {server.base_url}/api/status within {SERVER_START_TIMEOUT_S} s; "
                f"its log:\n{server.log_tail()}", pytrace=False)


def _shut_down_kernels(server: LabServer) -> None:
    """Ask the server to stop its kernels (best effort), so none outlives it."""
    try:
        with urllib.request.urlopen(server.url("/api/kernels"), timeout=5) as response:
            kernels = json.load(response)
        for kernel in kernels:
            request = urllib.request.Request(server.url(f"/api/kernels/{kernel['id']}"), method="DELETE")
            urllib.request.urlopen(request, timeout=10).close()
    except (OSError, ValueError, KeyError):
        pass


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[LabServer]:
    """JupyterLab serving a copy of the notebooks; always stopped at the end, even when the test fails."""
    root = _copy_notebooks(tmp_path / "notebooks")
    port, token = _free_port(), secrets.token_hex(16)
    server = LabServer(base_url=f"http://127.0.0.1:{port}", token=token, root=root, log=tmp_path / "jupyterlab.log")
    with server.log.open("wb") as log:
        process = subprocess.Popen(_lab_command(port, token, root, tmp_path), cwd=root,
                                   env=_server_environment(tmp_path), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_server(process, server)
        yield server
    finally:
        if process.poll() is None:
            _shut_down_kernels(server)
        _stop(process)


# --- browser --------------------------------------------------------------------------------------------------------

@pytest.fixture
def page(chromium_path: str) -> Iterator[Page]:
    """A page of headless Chromium driven by playwright's sync API."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            yield context.new_page()
        finally:
            browser.close()


def _accept_kernel_dialog(page: Page) -> None:
    """If JupyterLab asks which kernel to start, take its proposal (Python 3), as a person would."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "kernel" in dialog.first.inner_text().lower():
        dialog.locator(".jp-mod-accept").first.click()


def _open_notebook(page: Page, server: LabServer, notebook: str = NOTEBOOK) -> None:
    from playwright.sync_api import expect

    page.goto(server.url(f"/lab/tree/{notebook}"), wait_until="domcontentloaded")
    expect(page.locator(f"{PANEL} .jp-Notebook .jp-Cell").first).to_be_visible(
        timeout=NOTEBOOK_OPEN_TIMEOUT_S * 1000)
    _wait_for_idle_kernel(page, KERNEL_READY_TIMEOUT_S, accept_dialog=True)


def _kernel_status(page: Page) -> str:
    status = page.locator(KERNEL_STATUS)
    return (status.first.text_content() or "").strip() if status.count() else "(no kernel status shown)"


def _wait_for_idle_kernel(page: Page, timeout_s: float, accept_dialog: bool = False) -> None:
    """Wait until the status bar shows a kernel (not "No Kernel") that is idle."""
    deadline = time.monotonic() + timeout_s
    while not re.fullmatch(r"(?!No Kernel).+ \| Idle", status := _kernel_status(page)):
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel was not idle within {timeout_s:.0f} s (status bar: {status!r})")
        if accept_dialog:
            _accept_kernel_dialog(page)
        page.wait_for_timeout(250)


def _prompts(page: Page) -> list[str]:
    """Input prompts of the notebook's code cells with source, e.g. ['[1]:', '[*]:', '[ ]:']."""
    return page.eval_on_selector_all(
        f"{PANEL} .jp-CodeCell",
        """cells => cells
            .filter(cell => (cell.querySelector('.jp-InputArea-editor')?.textContent ?? '').trim() !== '')
            .map(cell => (cell.querySelector('.jp-InputPrompt')?.textContent ?? '').trim())""",
    )


def _run_all_cells(page: Page, timeout_s: float = RUN_ALL_TIMEOUT_S) -> None:
    """Run > Run All Cells from JupyterLab's menu bar; wait for the run to start, then to finish."""
    page.locator(f"{PANEL} .jp-Notebook").click(position={"x": 5, "y": 5})  # make the notebook the current widget
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

    # Run All marks every queued cell [*] at once; the first cell alone (import torch) takes far longer than a frame.
    busy = f"() => [...document.querySelectorAll('{PANEL} .jp-InputPrompt')].some(p => p.textContent.includes('*'))"
    page.wait_for_function(busy, polling="raf", timeout=RUN_START_TIMEOUT_S * 1000)
    page.wait_for_function(f"!({busy})()", polling=500, timeout=timeout_s * 1000)
    _wait_for_idle_kernel(page, timeout_s)


def _error_outputs(page: Page) -> list[str]:
    """Texts of the outputs that are error tracebacks; the first one is scrolled into view for the screenshot."""
    errors = []
    for output in page.locator(f'{OUTPUT}[data-mime-type="application/vnd.jupyter.stderr"]').all():
        text = output.text_content() or ""
        if TRACEBACK.search(text):
            if not errors:
                output.scroll_into_view_if_needed()
            errors.append(text)
    return errors


def _check_run(page: Page) -> None:
    """No output is a traceback, every code cell ran, and the first one printed kdviz.setup()'s banner."""
    errors = _error_outputs(page)
    if errors:
        raise AssertionError("error output(s) in the notebook:\n" + "\n---\n".join(text[-2000:] for text in errors))
    prompts = _prompts(page)
    if not prompts or not all(re.fullmatch(r"\[\d+\]:", prompt) for prompt in prompts):
        raise AssertionError(f"not every code cell ran; the input prompts are {prompts}")

    first_output = page.locator(f"{PANEL} .jp-CodeCell").first.locator(".jp-OutputArea")
    banner = first_output.text_content() or ""
    if BANNER not in banner:
        raise AssertionError(f"the first code cell's output lacks {BANNER!r}; it shows {banner[:1000]!r}")


def _check_outputs(page: Page) -> None:
    _check_run(page)
    _assert_shown(page, f"{OUTPUT} img", "image output (a matplotlib figure)")
    # the data set explorer: a button per class and an IntSlider
    _assert_shown(page, f"{OUTPUT} .widget-toggle-buttons",
                  "ipywidgets ToggleButtons (the data set explorer's classes)")


def _assert_shown(page: Page, selector: str, what: str) -> None:
    """Some element matching selector is visible once scrolled to (widgets render a moment after their cell ran)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    element = page.locator(selector).first
    try:
        element.scroll_into_view_if_needed(timeout=SHOWN_TIMEOUT_S * 1000)
        expect(element).to_be_visible(timeout=SHOWN_TIMEOUT_S * 1000)
    except PlaywrightError as error:
        raise AssertionError(f"no {what} is shown: nothing visible matches {selector!r} within "
                             f"{SHOWN_TIMEOUT_S} s ({error.message.splitlines()[0]})") from None


def _failure_report(notebook: str, step: str, started: float, error: Exception, page: Page,
                    lab_server: LabServer, folder: Path) -> str:
    """What failed, when, with a screenshot and the end of JupyterLab's log."""
    return (f"{notebook} in JupyterLab, {step} ({time.monotonic() - started:.0f} s in): {error}\n\n"
            f"screenshot: {_screenshot(page, folder)}\n"
            f"JupyterLab log (last lines):\n{lab_server.log_tail(30)}")


def _screenshot(page: Page, folder: Path) -> Path | str:
    path = folder / "browser-failure.png"
    try:
        page.screenshot(path=str(path), full_page=True)
    except Exception as error:  # the browser may be gone; the message should still come through
        return f"(no screenshot: {error})"
    return path


PREDICTION_CHOICE = "5 to 100 times"  # of the first prediction in notebook 00; the teacher needs over 100 times


def _commit_and_reveal(page: Page) -> None:
    """Choose an answer of the notebook's first prediction widget, press Commit, check that it locks, then run the
    cell that reveals it again and read the prediction beside the measured answer, as a learner would."""
    from playwright.sync_api import expect

    widget = page.locator(f"{OUTPUT} .widget-vbox").filter(has=page.locator("button", has_text="Commit")).first
    widget.scroll_into_view_if_needed(timeout=SHOWN_TIMEOUT_S * 1000)
    commit = widget.locator("button", has_text="Commit")
    expect(commit).to_be_disabled(timeout=SHOWN_TIMEOUT_S * 1000)  # nothing chosen yet
    choice = widget.locator(".widget-toggle-button", has_text=PREDICTION_CHOICE)
    choice.focus()  # from the keyboard, as a person without a mouse would: the option, then Commit
    page.keyboard.press("Space")
    expect(choice).to_have_class(re.compile(r"mod-active"), timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
    expect(commit).to_be_enabled(timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
    commit.focus()
    page.keyboard.press("Enter")
    expect(widget).to_contain_text(f"Committed: {PREDICTION_CHOICE}", timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
    expect(widget.locator(".widget-toggle-button").first).to_be_disabled()

    reveal = page.locator(f"{PANEL} .jp-CodeCell").filter(has_text="predict_macs.reveal(").first
    reveal.scroll_into_view_if_needed(timeout=SHOWN_TIMEOUT_S * 1000)
    reveal.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")  # run this cell again, as a person would
    expect(reveal.locator(".jp-OutputArea")).to_contain_text(f"your prediction: {PREDICTION_CHOICE}: not this time",
                                                              timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)


def test_first_notebook_runs_in_jupyterlab(lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError

    started, step, failure = time.monotonic(), "opening the notebook", None
    try:
        _open_notebook(page, lab_server)
        step = "running all cells"
        _run_all_cells(page)
        step = "checking what the notebook shows"
        _check_outputs(page)
        step = "committing a prediction and revealing it"
        _commit_and_reveal(page)
    except (AssertionError, PlaywrightError) as error:
        failure = _failure_report(NOTEBOOK, step, started, error, page, lab_server, tmp_path)
    if failure:  # outside the except block, so the report is the message alone, not a chain of tracebacks
        pytest.fail(failure, pytrace=False)


# --- the temperature explorer of notebook 04 ------------------------------------------------------------------------

# A PNG's length and a 32-bit hash of its bytes, fetched from the <img>'s src (a blob: URL the widget made).
PNG_DIGEST = """async img => {
    const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
    let hash = 0;
    for (const byte of bytes) hash = (Math.imul(hash, 31) + byte) >>> 0;
    return `${bytes.length} bytes, hash ${hash}`;
}"""


def _widget_label(page: Page, text: str):
    """A widget's description label reading exactly text."""
    return page.locator(".widget-label", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))


def _temperature_explorer(page: Page):
    """The first widget box of an output with "class" buttons and a "T" slider (loss_explorer's has no class)."""
    return (page.locator(f"{OUTPUT} .widget-vbox")
            .filter(has=page.locator(".widget-toggle-buttons").filter(has=_widget_label(page, "class")))
            .filter(has=page.locator(".widget-slider").filter(has=_widget_label(page, "T")))
            .first)


def _image_state(image) -> tuple[str, str]:
    """The image's src and its PNG's digest, read together (a src already replaced by a newer one can't be fetched)."""
    return image.evaluate(f"async img => [img.src, await ({PNG_DIGEST})(img)]")


def _settled_image_state(page: Page, image, quiet_s: float = 1.5) -> tuple[str, str]:
    """The image's state once the kernel is idle and its src has stayed the same for quiet_s.

    The slider's front end may snap the initial value to its step grid and send it back, so the kernel may draw
    once more just after the widget appeared; that picture must not count as the one the key press asked for.
    """
    deadline = time.monotonic() + WIDGET_UPDATE_TIMEOUT_S
    _wait_for_idle_kernel(page, WIDGET_UPDATE_TIMEOUT_S)
    state = _image_state(image)
    while True:
        page.wait_for_timeout(quiet_s * 1000)
        _wait_for_idle_kernel(page, WIDGET_UPDATE_TIMEOUT_S)
        latest = _image_state(image)
        if latest[0] == state[0]:
            return latest
        if time.monotonic() > deadline:
            raise AssertionError(f"the explorer's image kept changing for {WIDGET_UPDATE_TIMEOUT_S} s "
                                 "before the slider was touched")
        state = latest


def _wait_for_new_image(page: Page, image, old: tuple[str, str], timeout_s: float) -> tuple[str, str]:
    """Wait until the image shows another PNG than old: a new src whose bytes differ."""
    from playwright.sync_api import Error as PlaywrightError

    deadline, state = time.monotonic() + timeout_s, old
    while time.monotonic() < deadline:
        try:
            state = _image_state(image)
        except PlaywrightError:  # the src was replaced (and revoked) while it was read: read again
            pass
        if state[0] != old[0] and state[1] != old[1]:
            return state
        page.wait_for_timeout(250)
    if state[0] == old[0]:
        raise AssertionError(f"the explorer's image kept its src {old[0]!r} for {timeout_s:.0f} s: "
                             "no new picture came from the kernel")
    raise AssertionError(f"the explorer's image got a new src, but the same PNG ({old[1]}) within {timeout_s:.0f} s")


def _move_slider(label: str):
    """An action on an explorer: press End on its ``label`` slider, wait for the readout to change; say what moved."""
    def act(page: Page, explorer) -> str:
        from playwright.sync_api import expect

        slider = explorer.locator(".widget-slider").filter(has=_widget_label(page, label)).first
        readout, handle = slider.locator(".widget-readout"), slider.locator(".noUi-handle")
        expect(handle).to_be_visible(timeout=SHOWN_TIMEOUT_S * 1000)
        before = (readout.text_content() or "").strip()
        handle.click()  # focuses the handle, as a person's click would, without moving it
        page.keyboard.press("End")  # to the slider's largest value
        expect(readout).not_to_have_text(re.compile(rf"^\s*{re.escape(before)}\s*$"),
                                         timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
        return f"the {label} slider moved ({before!r} -> {(readout.text_content() or '').strip()!r})"
    return act


def _active_cell(page: Page) -> str:
    """Which cell of the notebook is active (its position), to see that a key press stayed in its widget."""
    return page.locator(f"{PANEL} .jp-Cell").evaluate_all(
        "cells => String(cells.findIndex(cell => cell.classList.contains('jp-mod-active')))")


def _arrow_on_slider(label: str, key: str = "ArrowLeft"):
    """An action on an explorer: focus its ``label`` slider's handle and press an arrow key; the slider moves and
    JupyterLab's active cell stays where it was (the key went to the widget, not to the notebook)."""
    def act(page: Page, explorer) -> str:
        from playwright.sync_api import expect

        slider = explorer.locator(".widget-slider").filter(has=_widget_label(page, label)).first
        readout, handle = slider.locator(".widget-readout"), slider.locator(".noUi-handle")
        before, cell = (readout.text_content() or "").strip(), _active_cell(page)
        handle.focus()
        page.keyboard.press(key)
        expect(readout).not_to_have_text(re.compile(rf"^\s*{re.escape(before)}\s*$"),
                                         timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
        if _active_cell(page) != cell:
            raise AssertionError(f"{key} on the {label} slider moved JupyterLab to another cell")
        return f"{key} moved the {label} slider ({before!r} -> {(readout.text_content() or '').strip()!r})"
    return act


def _key_on_button(group: str, text: str, key: str = "Space"):
    """An action on an explorer: focus the button reading ``text`` of its ``group`` buttons and press ``key``; it
    becomes the active one, and JupyterLab's active cell stays where it was."""
    def act(page: Page, explorer) -> str:
        from playwright.sync_api import expect

        buttons = explorer.locator(".widget-toggle-buttons").filter(has=_widget_label(page, group)).first
        button = buttons.locator(".widget-toggle-button", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$"))
        cell = _active_cell(page)
        button.focus()
        page.keyboard.press(key)
        expect(button).to_have_class(re.compile(r"mod-active"), timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
        if _active_cell(page) != cell:
            raise AssertionError(f"{key} on the {text!r} button moved JupyterLab to another cell")
        return f"{key} on the {text!r} button chose it"
    return act


def _key_on_checkbox(text: str, key: str = "Space"):
    """An action on an explorer: focus its ``text`` check box and press ``key``: it is no longer ticked."""
    def act(page: Page, explorer) -> str:
        from playwright.sync_api import expect

        box = explorer.locator(".widget-checkbox").filter(has_text=text).locator("input").first
        expect(box).to_be_checked(timeout=SHOWN_TIMEOUT_S * 1000)
        box.focus()
        page.keyboard.press(key)
        expect(box).not_to_be_checked(timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
        return f"{key} on the {text!r} check box cleared it"
    return act


def _press_toggle(text: str):
    """An action on an explorer: click its toggle button reading ``text`` and wait for it to be the active one."""
    def act(page: Page, explorer) -> str:
        from playwright.sync_api import expect

        button = explorer.locator(".widget-toggle-button", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).first
        expect(button).to_be_visible(timeout=SHOWN_TIMEOUT_S * 1000)
        button.click()
        expect(button).to_have_class(re.compile(r"mod-active"), timeout=WIDGET_UPDATE_TIMEOUT_S * 1000)
        return f"the {text!r} button was pressed"
    return act


def _control_changes_the_picture(notebook: str, run_timeout_s: float, find_explorer, acts, what: str,
                                 lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    """Run the notebook, operate the explorer's controls (``acts``, one after another), and wait for the kernel's
    new picture after each."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    started, step, failure = time.monotonic(), "opening the notebook", None
    try:
        _open_notebook(page, lab_server, notebook)
        step = "running all cells"
        _run_all_cells(page, run_timeout_s)
        step = "checking the run"
        _check_run(page)

        step = f"finding the explorer ({what})"
        explorer = find_explorer(page)
        explorer.scroll_into_view_if_needed(timeout=SHOWN_TIMEOUT_S * 1000)
        expect(explorer).to_be_visible(timeout=SHOWN_TIMEOUT_S * 1000)
        image = explorer.locator("img").first
        expect(image).to_have_attribute("src", re.compile(r"\S"), timeout=SHOWN_TIMEOUT_S * 1000)
        before_image = _settled_image_state(page, image)

        for act in acts if isinstance(acts, (list, tuple)) else [acts]:
            step = f"operating the explorer ({what})"
            done = act(page, explorer)
            step = f"waiting for the new picture after {done}"
            explorer.scroll_into_view_if_needed()
            before_image = _wait_for_new_image(page, image, before_image, WIDGET_UPDATE_TIMEOUT_S)
    except (AssertionError, PlaywrightError) as error:
        failure = _failure_report(notebook, step, started, error, page, lab_server, tmp_path)
    if failure:  # outside the except block, so the report is the message alone, not a chain of tracebacks
        pytest.fail(failure, pytrace=False)


def test_temperature_slider_changes_the_plot(lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    _control_changes_the_picture(KD_NOTEBOOK, KD_RUN_ALL_TIMEOUT_S, _temperature_explorer,
                                 [_move_slider("T"), _arrow_on_slider("T"), _key_on_button("class", "7")],
                                 "the T slider and the class buttons, by keyboard", lab_server, page, tmp_path)


# --- the sparsity explorer of notebook 02 and the rank explorer of notebook 01 ---------------------------------------

def _slider_explorer(label: str):
    """A locator of the first widget box of an output with a ``label`` slider and a picture."""
    def find(page: Page):
        return (page.locator(f"{OUTPUT} .widget-vbox")
                .filter(has=page.locator(".widget-slider").filter(has=_widget_label(page, label)))
                .filter(has=page.locator("img"))
                .first)
    return find


def test_sparsity_slider_changes_the_plot(lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    _control_changes_the_picture(PRUNING_NOTEBOOK, PRUNING_RUN_ALL_TIMEOUT_S, _slider_explorer("sparsity"),
                                 _move_slider("sparsity"), "the sparsity slider", lab_server, page, tmp_path)


def test_rank_slider_changes_the_plot(lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    _control_changes_the_picture(ARCHITECTURES_NOTEBOOK, ARCHITECTURES_RUN_ALL_TIMEOUT_S, _slider_explorer("rank"),
                                 _move_slider("rank"), "the rank slider", lab_server, page, tmp_path)


# --- the Pareto explorer of notebook 05 -----------------------------------------------------------------------------

def _pareto_explorer(page: Page):
    """The first widget box of an output with the cost toggle buttons and a picture."""
    return (page.locator(f"{OUTPUT} .widget-vbox")
            .filter(has=page.locator(".widget-toggle-button", has_text=PARETO_BUTTON))
            .filter(has=page.locator("img"))
            .first)


def test_pareto_cost_button_changes_the_chart(lab_server: LabServer, page: Page, tmp_path: Path) -> None:
    _control_changes_the_picture(PARETO_NOTEBOOK, PARETO_RUN_ALL_TIMEOUT_S, _pareto_explorer,
                                 [_press_toggle(PARETO_BUTTON), _key_on_checkbox("pruned")],
                                 f"the {PARETO_BUTTON!r} button, then a family's check box by keyboard", lab_server,
                                 page, tmp_path)



# --- the lecture dashboard (Voila) ------------------------------------------------------------------------------------

DASHBOARD = Path(__file__).resolve().parents[1] / "scripts" / "lecture_dashboard.ipynb"
DASHBOARD_TIMEOUT_S = 180
PREPARE_DASHBOARD = """from kdviz import pruning_runs, quantization_runs, train
train.cached_teacher("quick", device="cpu")
pruning_runs.one_shot("quick", progress=False)
quantization_runs.weight_bits("quick")"""


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[str]:
    """Voila serving the lecture dashboard in the quick profile on a free loopback port, from a cache that holds
    what it reads (the teacher, the one-shot pruning curve, the weight bit depths: made now where missing)."""
    env = _server_environment(tmp_path)
    made = subprocess.run([sys.executable, "-c", PREPARE_DASHBOARD], env=env, capture_output=True, text=True,
                          timeout=900)
    if made.returncode:
        pytest.fail(f"making the dashboard's cache failed:\n{made.stderr[-3000:]}", pytrace=False)
    port, log = _free_port(), tmp_path / "voila.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "voila", str(DASHBOARD), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
             "--Voila.port_retries=0"], cwd=DASHBOARD.parent, env=env, stdin=subprocess.DEVNULL, stdout=output,
            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"Voila exited with code {process.returncode}; its log:\n{log.read_text()[-3000:]}",
                            pytrace=False)
            try:  # listening: the page itself is made when the browser asks for it
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Voila did not answer {url} within {SERVER_START_TIMEOUT_S} s", pytrace=False)
                time.sleep(0.5)
        yield url
    finally:
        _stop(process)


def test_lecture_dashboard_answers_a_slider_and_the_keyboard(voila_url: str, page: Page, tmp_path: Path) -> None:
    """The dashboard opens with its five tabs; the temperature slider, moved from the keyboard, brings a new
    picture, and so does a family's check box on the Pareto tab."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    step, failure = "opening the dashboard", None
    try:
        page.goto(voila_url, timeout=DASHBOARD_TIMEOUT_S * 1000)
        tabs = page.locator(".lm-TabBar-tab")
        expect(tabs.first).to_be_visible(timeout=DASHBOARD_TIMEOUT_S * 1000)
        titles = [t.strip() for t in tabs.all_inner_texts()]
        assert titles == ["temperature", "alpha/T loss", "bit depth", "sparsity", "Pareto chart"], titles
        for title, explorer, act in (
                ("temperature", _dashboard_panel(page), _arrow_on_slider("T", "ArrowRight")),
                ("Pareto chart", _dashboard_panel(page), _key_on_checkbox("pruned"))):
            step = f"the {title} tab"
            tabs.filter(has_text=title).first.click()
            image = explorer.locator("img").first
            expect(image).to_have_attribute("src", re.compile(r"\S"), timeout=SHOWN_TIMEOUT_S * 1000)
            before = _image_state(image)
            step = f"the {title} tab: {act(page, explorer)}"
            _wait_for_new_image(page, image, before, WIDGET_UPDATE_TIMEOUT_S)
    except (AssertionError, PlaywrightError) as error:
        failure = f"the lecture dashboard, {step}: {error}\nscreenshot: {_screenshot(page, tmp_path)}"
    if failure:
        pytest.fail(failure, pytrace=False)


def _dashboard_panel(page: Page):
    """The tab panel shown now."""
    return page.locator(".widget-tab > .widget-tab-contents > .lm-Widget:not(.lm-mod-hidden)").first
