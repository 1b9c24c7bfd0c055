"""Interactive explorers: thin ipywidgets wrappers over a compute function and a plot function."""
from __future__ import annotations

from typing import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display

from kdviz import data, plots


def dataset_explorer(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], count: int = 8):
    """Browse a data set one class at a time (notebook 00): a class dropdown and a position slider."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count!r}")
    smallest_class = int(data.class_counts(labels, len(classes)).min())

    def show(label: int, start: int):
        pictures = data.class_examples(images, labels, label, start, count)
        display(plots.plot_images(pictures, columns=count,
                                  suptitle=f"{classes[label]}: images {start} to {start + len(pictures) - 1}"))

    return widgets.interactive(
        show,
        label=widgets.Dropdown(options=[(name, i) for i, name in enumerate(classes)], value=0, description="class"),
        start=widgets.IntSlider(value=0, min=0, max=max(smallest_class - count, 0), step=count,
                                description="first image", continuous_update=False),
    )
