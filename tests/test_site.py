"""The workbook as a website: scripts/site.sh builds it (Jupyter Book 2, from the committed notebooks), and headless
Chromium reads it as a person would, from a static server on 127.0.0.1.

* the index page lists the notebooks 00 .. 05 in teaching order in its table of contents, then the results;
* notebook 04's page (reached through that table of contents) shows its figures (images that really loaded) and
  its equations rendered by KaTeX with KaTeX's own fonts, and no ipywidgets JSON;
* the results page shows the README's results table and docs/pareto.png;
* no page reloads itself (the client-side app accepts the URL a static server gives it).

The site is built once for the module: the first build installs the site template's npm packages and builds it
(a few minutes); later builds reuse them. It needs Node.js with npm, Debian's chromium and the playwright Python
package, like tests/test_browser.py: without them it is skipped, unless KDVIZ_REQUIRE_BROWSER=1, which turns the
skip into a failure.
"""
from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_browser import CHROMIUM_ARGS, _missing, browser_requirements

if TYPE_CHECKING:
    from playwright.sync_api import Page

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "site"
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
BUILD_TIMEOUT_S = 1200  # the first build installs about 2,000 npm packages
PAGE_TIMEOUT_MS = 30_000


# --- the site, built once, served on loopback ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def chromium_path() -> str:
    """As tests/test_browser.py's fixture, for this module."""
    return browser_requirements()


@pytest.fixture(scope="module")
def site(chromium_path: str) -> Path:
    """scripts/site.sh's output folder, built now (after the browser requirements are known to be met)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        _missing("Node.js and npm are not installed (the website's build needs them)")
    try:
        result = subprocess.run(["bash", str(ROOT / "scripts" / "site.sh")], cwd=ROOT, capture_output=True, text=True,
                                timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"scripts/site.sh took more than {BUILD_TIMEOUT_S} s", pytrace=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        pytest.fail(f"scripts/site.sh failed (exit status {result.returncode}):\n{output}", pytrace=False)
    assert (SITE / "index.html").is_file(), "scripts/site.sh wrote no _build/site/index.html"
    return SITE


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(site: Path) -> Iterator[str]:
    """The site served by Python's static file server on a free loopback port, as any static host would."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Reader:
    """A page of headless Chromium and the errors its console reported since the last page was opened."""
    page: Page
    errors: list[str] = field(default_factory=list)

    def open(self, url: str) -> None:
        """Open a page, wait for its images, and check that it stays put (a mismatched URL makes the app reload)."""
        self.errors.clear()
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function("[...document.images].every(image => image.complete)")
        self.page.wait_for_timeout(1000)  # the app hydrates after load
        reloads = [text for text in self.errors if "reloading page" in text]
        assert not reloads, f"{url} reloads itself: {reloads}"
        assert self.page.url.rstrip("/") == url.rstrip("/"), f"{url} moved to {self.page.url}"

    def toc(self) -> list[dict[str, str]]:
        """The table of contents in the sidebar: each entry's text and address."""
        return self.page.eval_on_selector_all('nav[aria-label="Table of Contents"] a',
                                              "links => links.map(a => ({text: a.textContent.trim(), href: a.href}))")

    def loaded_images(self) -> list[str]:
        return self.page.eval_on_selector_all("article img",
                                              "images => images.filter(i => i.naturalWidth > 0).map(i => i.src)")


@pytest.fixture(scope="module")
def reader(chromium_path: str, site_url: str) -> Iterator[Reader]:
    """One page of headless Chromium for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            reader = Reader(page)
            page.on("console", lambda message: message.type == "error" and reader.errors.append(message.text))
            page.on("pageerror", lambda error: reader.errors.append(str(error)))
            yield reader
        finally:
            browser.close()


# --- the tests ----------------------------------------------------------------------------------------------------

def test_index_lists_the_notebooks_in_teaching_order(reader: Reader, site_url: str) -> None:
    reader.open(site_url + "/")
    entries = [entry["text"] for entry in reader.toc()]
    numbered = [text for text in entries if text[:2].isdigit()]
    assert [text[:2] for text in numbered] == [name[:2] for name in NOTEBOOKS], entries
    assert len(numbered) == 6
    assert entries.index("Results") > entries.index(numbered[-1]), entries
    title = reader.page.locator("article h1").first.inner_text()
    assert title.startswith("kdviz"), title
    body = reader.page.locator("article").inner_text()
    for name in NOTEBOOKS:  # the README's table of notebooks, each linked to its page
        assert f"{name}.ipynb" in body


def test_notebook_page_shows_figures_and_equations(reader: Reader, site_url: str) -> None:
    reader.open(site_url + "/")
    link = next(entry for entry in reader.toc() if entry["text"].startswith("04 ·"))
    reader.open(link["href"])
    assert reader.page.locator("article h1").first.inner_text().startswith("04 · Knowledge distillation")

    images = reader.loaded_images()
    assert len(images) >= 10, f"only {len(images)} figures loaded on notebook 04's page"

    equations = reader.page.locator("article .katex")
    assert equations.count() >= 3, "no equations rendered by KaTeX"
    assert reader.page.locator("article .katex-display").count() >= 1
    assert reader.page.evaluate("document.fonts.check('16px KaTeX_Main')"), "KaTeX's fonts did not load"
    font = equations.first.evaluate("element => getComputedStyle(element).fontFamily")
    assert "KaTeX_Main" in font, font

    body = reader.page.locator("article").inner_text()
    assert "widget-view+json" not in body and "model_id" not in body, "raw ipywidgets JSON on the page"
    assert not reader.errors, reader.errors


def test_results_page_shows_the_readme_results(reader: Reader, site_url: str) -> None:
    reader.open(site_url + "/")
    link = next(entry for entry in reader.toc() if entry["text"] == "Results")
    reader.open(link["href"])
    table = reader.page.locator("article table").first.inner_text()
    assert "teacher, int8" in table and "LeNet-300-100, Deep Compression" in table
    chart = reader.page.locator('article img[alt*="Accuracy against size"]')
    assert chart.count() == 1
    assert chart.evaluate("image => image.naturalWidth") > 0, "docs/pareto.png did not load"
