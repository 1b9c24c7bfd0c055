"""Widget boxes that read well without a kernel. A notebook stores a widget's plain-text form beside it and shows
that text wherever the widget cannot run (a notebook opened before running it or untrusted, a page that renders
notebooks, the website); ipywidgets' own is the Python repr (``VBox(children=(...``), so these boxes say what they
are instead."""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets

PLAIN_TEXT_LIMIT = 110  # ipywidgets cuts a widget's plain text there


class DescribedBox(widgets.VBox):
    """A VBox whose plain-text form is ``summary``."""

    def __init__(self, children: Sequence[widgets.Widget], summary: str, **kwargs: object) -> None:
        if not isinstance(summary, str) or not 0 < len(summary.strip()) <= PLAIN_TEXT_LIMIT:
            raise ValueError(f"summary must be a non-empty string of at most {PLAIN_TEXT_LIMIT} characters, "
                             f"got {summary!r}")
        super().__init__(list(children), **kwargs)
        self.summary = summary

    def __repr__(self) -> str:
        return self.summary


def explorer_summary(name: str) -> str:
    """The plain-text form of an explorer: what it is, and what it needs to move."""
    return f"[{name}: interactive when the notebook runs; the figure beside it shows one state]"


def class_buttons(classes: Sequence[str], value: int = 0) -> widgets.ToggleButtons:
    """One button per class, worked by mouse or keyboard (Tab, then Space or Enter); unlike a dropdown, whose arrow
    keys JupyterLab takes to move between cells."""
    return widgets.ToggleButtons(options=[(name, i) for i, name in enumerate(classes)], value=value,
                                 description="class", style={"button_width": "auto"})
