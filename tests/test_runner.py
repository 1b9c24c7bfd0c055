"""kdviz.runner: a saved notebook's progress bars read as finished where widgets do not run."""
from __future__ import annotations

import ipywidgets
import nbformat
from tqdm.notebook import tqdm

from kdviz import runner


def _notebook_with_bar(steps: int, done: int):
    bar = tqdm(total=steps, desc="fine-tune at 50%", unit="batch")
    bar.update(done)
    bar.refresh()
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {runner.WIDGET_STATE: state}
    output = nbformat.v4.new_output("display_data", data={
        "text/plain": "fine-tune at 50%:   0%|          | 0/12 [00:00<?, ?batch/s]",
        runner.WIDGET_VIEW: {"model_id": bar.container.model_id, "version_major": 2, "version_minor": 0}})
    other = nbformat.v4.new_output("display_data", data={"text/plain": "[an explorer]", runner.WIDGET_VIEW: {
        "model_id": ipywidgets.IntSlider().model_id, "version_major": 2, "version_minor": 0}})
    notebook.cells.append(nbformat.v4.new_code_cell("train()", outputs=[output, other]))
    state = ipywidgets.Widget.get_manager_state(drop_defaults=False)  # with the slider
    notebook.metadata["widgets"] = {runner.WIDGET_STATE: state}
    return notebook, bar


def test_a_finished_bar_is_stored_as_tqdm_prints_it():
    notebook, bar = _notebook_with_bar(12, 12)
    assert runner.settle_progress_bars(notebook) == 1
    bar_text, slider_text = (o["data"]["text/plain"] for o in notebook.cells[0].outputs)
    own = repr(bar.container)  # tqdm's own text of the same state; only the rate moves on meanwhile
    assert bar_text.replace("█", "#").split(",")[0] == own.split(",")[0] and bar_text.endswith("batch/s]")
    assert "100%|██████████| 12/12" in bar_text and slider_text == "[an explorer]"
    bar.close()


def test_a_bar_stopped_early_is_stored_where_it_stopped():
    notebook, bar = _notebook_with_bar(12, 3)
    runner.settle_progress_bars(notebook)
    assert " 25%|██        | 3/12" in notebook.cells[0].outputs[0]["data"]["text/plain"]
    bar.close()
