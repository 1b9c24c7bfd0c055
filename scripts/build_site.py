"""Build the workbook as a static website with Jupyter Book 2, from the committed notebooks (nothing re-executed).

    .venv/bin/python scripts/build_site.py          # what scripts/site.sh runs
    BASE_URL=/kdviz .venv/bin/python scripts/build_site.py   # a site served under a sub-path (GitHub Pages)

The HTML lands in _build/site/. Offline apart from the npm registry: Jupyter Book's default theme is downloaded
from the web at build time, so the site template is site/theme/, built here from npm packages pinned in its
package-lock.json (installed with `npm ci`). The pages are staged in _build/site-src/: the notebooks in teaching
order, an index from the README's opening, and the README's results with docs/pareto.png. ipywidgets outputs
keep only their text/plain fallback (progress bars are dropped): each widget has a static figure beside it in the
stored notebook. site/theme/README.md says how the template is made.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THEME = ROOT / "site" / "theme"
STAGE = ROOT / "_build" / "site-src"
OUTPUT = ROOT / "_build" / "site"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"
PROGRESS_BAR = re.compile(r"\d+%\|")  # tqdm's text fallback: "one epoch:   0%|   | 0/430 [...]"
# the inputs of the theme's build: a change to any of them builds it again
THEME_SOURCES = ["package-lock.json", "remix.config.js", "tailwind.config.js", "tsconfig.json", "server.js",
                 "template.yml", "styles", "app"]
THEME_GENERATED = ("app/styles",)  # written by the build itself
WIDGETS_CSS = "node_modules/@jupyter-widgets/controls/css/widgets-base.css"


def log(message: str) -> None:
    print(f"== {message}", flush=True)


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    print("$ " + " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd, env=env, check=True)


def npm() -> str:
    path = shutil.which("npm")
    if path is None or shutil.which("node") is None:
        sys.exit("Node.js and npm are needed to build the website (Node.js 20 or newer)")
    return path


# --- the site template ------------------------------------------------------------------------------------------

def theme_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in THEME_SOURCES:
        path = THEME / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            relative = file.relative_to(THEME).as_posix()
            if relative.startswith(THEME_GENERATED):
                continue
            digest.update(relative.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def install_theme_packages() -> None:
    """npm ci, unless node_modules already holds this package-lock.json's packages."""
    lock = hashlib.sha256((THEME / "package-lock.json").read_bytes()).hexdigest()
    stamp = THEME / "node_modules" / ".kdviz-lock-sha256"
    if stamp.is_file() and stamp.read_text() == lock:
        return
    log("installing the site template's npm packages (npm ci; the first time takes a few minutes)")
    run([npm(), "ci", "--ignore-scripts", "--no-audit", "--no-fund"], THEME)
    # thebe-core's widget stylesheet @imports two files that the theme's CSS bundler cannot inline, and that
    # the static site does not need (it runs no widgets)
    css = THEME / WIDGETS_CSS
    text = css.read_text()
    css.write_text(re.sub(r"^@import '\./(lumino|nouislider)\.css';", r"/* \g<0> */", text, flags=re.M))
    stamp.write_text(lock)


def build_theme(force: bool = False) -> None:
    """Install and build site/theme/ (a Remix app: build/ and public/), unless it is built from these sources."""
    install_theme_packages()
    fingerprint = theme_fingerprint()
    stamp = THEME / "build" / ".kdviz-sources-sha256"
    if not force and stamp.is_file() and stamp.read_text() == fingerprint and (THEME / "public" / "build").is_dir():
        log("the site template is already built")
        return
    log("building the site template (tailwind, then remix)")
    for folder in ("build", "public"):
        shutil.rmtree(THEME / folder, ignore_errors=True)
    binaries = THEME / "node_modules" / ".bin"
    run([str(binaries / "tailwindcss"), "-m", "-i", "styles/app.css", "-o", "app/styles/app.css"], THEME)
    run([str(binaries / "remix"), "build"], THEME, env={**os.environ, "NODE_ENV": "production"})
    # KaTeX's stylesheet and fonts, served beside the theme's own assets: the equations need no CDN
    katex = THEME / "node_modules" / "katex" / "dist"
    target = THEME / "public" / "build" / "katex"
    target.mkdir(parents=True)
    shutil.copy2(katex / "katex.min.css", target)
    shutil.copytree(katex / "fonts", target / "fonts")
    stamp.write_text(fingerprint)


# --- the pages ----------------------------------------------------------------------------------------------------

def readme() -> str:
    return (ROOT / "README.md").read_text()


def index_page() -> str:
    """The README's opening (title, what the workbook is, the table of notebooks), the notebooks linked."""
    text = readme().split("\n## ", 1)[0].rstrip() + "\n"
    for notebook in NOTEBOOKS:
        text = text.replace(f"`{notebook.name}`", f"[`{notebook.name}`](notebooks/{notebook.name})")
    return text + "\nThe measured results of every model: [Results](results.md).\n"


def results_page() -> str:
    """The README's results: its section's opening and what stands between the results markers."""
    text = readme()
    start, end = text.index(RESULTS_START), text.index(RESULTS_END)
    heading = text.rindex("\n## ", 0, start)
    opening = text[heading:start].strip().removeprefix("## ").split("\n", 1)
    return f"# {opening[0]}\n\n{opening[1].strip()}\n\n{text[start + len(RESULTS_START):end].strip()}\n"


def stage_notebook(source: Path, target: Path) -> int:
    """A copy of a notebook whose ipywidgets outputs keep only their text/plain (progress bars are dropped).
    Returns how many widget outputs it changed."""
    notebook = json.loads(source.read_text())
    changed = 0
    for cell in notebook.get("cells", []):
        outputs = []
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW in data:
                changed += 1
                text = "".join(data.get("text/plain", ""))
                if not text.strip() or PROGRESS_BAR.search(text):
                    continue
                output["data"] = {"text/plain": data["text/plain"]}
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    notebook.get("metadata", {}).pop("widgets", None)
    target.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return changed


def myst_yml() -> str:
    title = readme().splitlines()[0].removeprefix("# ").strip()
    toc = "\n".join(["    - file: index.md"] + [f"    - file: notebooks/{nb.name}" for nb in NOTEBOOKS]
                    + ["    - file: results.md"])
    return f"""# Written by scripts/build_site.py: the workbook as a website (Jupyter Book 2)
version: 1
project:
  title: {json.dumps(title)}
  toc:
{toc}
site:
  title: kdviz
  template: {json.dumps(str(THEME))}
  options:
    hide_footer_links: false
"""


def stage() -> None:
    log(f"staging the pages in {STAGE.relative_to(ROOT)}")
    shutil.rmtree(STAGE, ignore_errors=True)
    (STAGE / "notebooks").mkdir(parents=True)
    (STAGE / "docs").mkdir()
    (STAGE / "myst.yml").write_text(myst_yml())
    (STAGE / "index.md").write_text(index_page())
    (STAGE / "results.md").write_text(results_page())
    shutil.copy2(ROOT / "docs" / "pareto.png", STAGE / "docs" / "pareto.png")
    for notebook in NOTEBOOKS:
        changed = stage_notebook(notebook, STAGE / "notebooks" / notebook.name)
        print(f"  {notebook.name}: {changed} widget outputs reduced to their text", flush=True)


# --- the build ----------------------------------------------------------------------------------------------------

def jupyter_book() -> list[str]:
    local = Path(sys.executable).parent / "jupyter-book"
    if local.is_file():
        return [str(local)]
    found = shutil.which("jupyter-book")
    if found is None:
        sys.exit("jupyter-book is not installed (pip install -r requirements.txt)")
    return [found]


def build_html() -> None:
    log("building the HTML with Jupyter Book (the notebooks are not executed)")
    env = {**os.environ, "JB_ALLOW_NODEENV": "no"}
    command = jupyter_book() + ["build", "--html", "--ci"]
    print("$ " + " ".join(command), flush=True)
    # its own process group: Jupyter Book starts the theme's server (node) and leaves it running when a build fails
    process = subprocess.Popen(command, cwd=STAGE, env=env, start_new_session=True)
    try:
        code = process.wait()
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    if code:
        sys.exit(f"Jupyter Book failed (exit status {code})")
    html = STAGE / "_build" / "html"
    if not (html / "index.html").is_file():
        sys.exit(f"Jupyter Book wrote no {html.relative_to(ROOT)}/index.html")
    shutil.rmtree(OUTPUT, ignore_errors=True)
    shutil.copytree(html, OUTPUT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild-theme", action="store_true", help="build site/theme/ even if it looks current")
    arguments = parser.parse_args(argv)
    started = time.perf_counter()
    build_theme(force=arguments.rebuild_theme)
    stage()
    build_html()
    pages = len(list(OUTPUT.rglob("index.html")))
    log(f"the website: {OUTPUT.relative_to(ROOT)}/ ({pages} pages) in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
