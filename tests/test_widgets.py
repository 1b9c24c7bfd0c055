"""kdviz.widgets: moving a control redraws the figure, and many moves leak no figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from kdviz import widgets
from kdviz.data import CLASSES


def _explorer():
    labels = torch.arange(200) % 10
    images = (labels[:, None, None] * 20 + torch.arange(200)[:, None, None] % 7).to(torch.uint8).expand(200, 28, 28)
    return widgets.dataset_explorer(images.contiguous(), labels, CLASSES["fashion-mnist"], count=4)


def test_explorer_redraws_when_the_class_or_position_changes():
    explorer = _explorer()
    label, start = explorer.children[:2]
    assert label.description == "class" and start.max == 20 - 4 and start.step == 4
    figures = []
    original = widgets.plots.plot_images

    def spy(*args, **kwargs):
        figures.append(original(*args, **kwargs))
        return figures[-1]

    widgets.plots.plot_images = spy
    try:
        label.value = 3
        start.value = 8
    finally:
        widgets.plots.plot_images = original
    assert [f._suptitle.get_text() for f in figures] == ["Dress: images 0 to 3", "Dress: images 8 to 11"]
    pictures = [ax.images[0].get_array() for ax in figures[-1].axes if ax.images]
    assert len(pictures) == 4 and int(pictures[0][0, 0]) == 3 * 20 + (3 + 10 * 8) % 7


def test_hundred_moves_leave_no_figure_open():
    explorer = _explorer()
    before = plt.get_fignums()
    label, start = explorer.children[:2]
    for move in range(100):
        label.value = move % 10
        start.value = (move * 4) % 20
    assert plt.get_fignums() == before
    assert len(explorer.children[-1].outputs) <= 1  # each redraw replaces the last figure
