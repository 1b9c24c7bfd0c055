"""The lecture dashboard: the explorers a lecturer drags in front of a room (temperature, the alpha/T loss, bit
depth, sparsity, the Pareto chart), one tab each, in fonts large enough for a projector. It reads the prepared cache
and trains nothing: what is missing is named, with the command that makes it. ``bash scripts/lecture.sh`` shows it
with Voila; in a notebook, ``lecture.dashboard()`` shows the same."""
from __future__ import annotations

import json
from pathlib import Path

import ipywidgets as widgets
import torch

from kdviz import cache, config, data, models, prune, pruning_runs, quantization_runs, train
from kdviz import widgets as explorers
from kdviz.boxes import DescribedBox

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results.json"
IMAGES = 1000  # test images the temperature explorer offers
BATCH = 256  # the batch of the alpha/T explorer, as in notebook 04
PROJECTOR_STYLE = """<style>
.kdviz-lecture .widget-label, .kdviz-lecture .widget-readout, .kdviz-lecture .widget-html-content,
.kdviz-lecture .widget-toggle-button, .kdviz-lecture .widget-checkbox label, .kdviz-lecture .lm-TabBar-tabLabel {
  font-size: 20px !important; }
.kdviz-lecture .widget-toggle-button { height: 40px; }
.kdviz-lecture .widget-slider { --jp-widgets-inline-height: 40px; width: 480px; }
.kdviz-lecture .widget-label { min-width: max-content; }
.kdviz-lecture img { max-width: 100%; height: auto; }
</style>"""


def results_rows(path: Path = RESULTS) -> tuple[list[dict], str]:
    """The measured models of ``docs/results.json`` (``scripts/readme_results.py``, full profile) and a line saying
    where and how they were measured."""
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: scripts/readme_results.py writes it from the full profile's cache")
    results = json.loads(path.read_text())
    return results["rows"], (f"measured by scripts/readme_results.py in the {results['profile']} profile on "
                             f"{results['machine']}, PyTorch {results['torch']}")


def explorer_tabs(profile: config.Profile | str | None = None) -> dict[str, widgets.Widget]:
    """The dashboard's explorers by tab title, built from the cache (raises cache.NotCached naming what is missing)."""
    profile = config.get_profile(profile)
    with cache.only_cached():
        teacher = train.cached_teacher(profile, device="cpu")
        one_shot = pruning_runs.one_shot(profile, progress=False)
        weight_bits = quantization_runs.weight_bits(profile)
    images, labels = data.load_profile_split("fashion-mnist", "test", profile)
    images, labels = images[:IMAGES], labels[:IMAGES]
    logits = train.predict_logits(teacher, images, device="cpu")
    torch.manual_seed(0)
    student_logits = train.predict_logits(models.build("student_cnn", width=8), images[:BATCH], device="cpu")
    rows, provenance = results_rows()
    pareto = explorers.pareto_explorer(rows)
    return {
        "temperature": explorers.temperature_explorer(images, labels, logits, data.CLASSES["fashion-mnist"], T=4.0),
        "alpha/T loss": explorers.loss_explorer(student_logits, logits[:BATCH], labels[:BATCH], T=8.0, alpha=0.9),
        "bit depth": explorers.bits_explorer(teacher[16].weight, weight_bits["per tensor"], bits=4),
        "sparsity": explorers.sparsity_explorer(prune.all_weights(teacher), one_shot["magnitude (global)"], 0.5),
        "Pareto chart": widgets.VBox([pareto, widgets.HTML(f"<i>{provenance}</i>")]),
    }


def dashboard(profile: config.Profile | str | None = None) -> widgets.Widget:
    """The explorers on tabs with the projector's style; where the cache lacks something, a message saying so."""
    profile = config.get_profile(profile)
    style = widgets.HTML(PROJECTOR_STYLE)
    try:
        tabs = explorer_tabs(profile)
    except (cache.NotCached, FileNotFoundError) as missing:
        message = widgets.HTML(
            f"<h3>The lecture dashboard reads the prepared cache ({config.home_dir()}), profile {profile.name}.</h3>"
            f"<p>{missing}</p><p>Prepare it first: <code>.venv/bin/python -m kdviz prepare --profile "
            f"{profile.name}</code> (or run the notebooks), then reload this page.</p>")
        return DescribedBox([style, message], "[the lecture dashboard: its cache is not prepared yet]")
    tab = widgets.Tab(children=list(tabs.values()), titles=list(tabs))
    box = DescribedBox([style, tab], "[the lecture dashboard: interactive when its kernel runs]")
    box.add_class("kdviz-lecture")
    return box
