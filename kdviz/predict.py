"""Predict, then run: the learner commits an answer to a question (a widget choice, locked once committed) before
the cell that measures it; a later cell prints the measured answer beside the prediction (every notebook)."""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
from IPython.display import display

from kdviz.boxes import DescribedBox

NOT_COMMITTED = "none committed (choose an answer above, press Commit, then run this cell again)"


class Prediction:
    """One question with its options, and the option the learner committed to (None until they do)."""

    def __init__(self, question: str, options: Sequence[str]):
        if not isinstance(question, str) or not question.strip():
            raise ValueError(f"question must be a non-empty string, got {question!r}")
        options = tuple(options) if not isinstance(options, str) else ()
        if len(options) < 2 or len(set(options)) != len(options) or not all(isinstance(o, str) and o for o in options):
            raise ValueError(f"options must be two or more different non-empty strings, got {options!r}")
        self.question = question
        self.options = options
        self.choice: str | None = None

    def commit(self, option: str) -> None:
        """Record ``option`` as the prediction; a prediction is made once."""
        if option not in self.options:
            raise ValueError(f"option must be one of {list(self.options)}, got {option!r}")
        if self.choice is not None:
            raise ValueError(f"a prediction is made once: {self.choice!r} is already committed")
        self.choice = option

    def verdict(self, answer: str, measured: str) -> str:
        """The measured ``answer`` (one of the options) with the values that decided it, and the prediction beside it:
        two lines. ``measured`` is printed in brackets, which the notebooks' output comparison ignores."""
        if answer not in self.options:
            raise ValueError(f"answer must be one of {list(self.options)}, got {answer!r}")
        if self.choice is None:
            mine = NOT_COMMITTED
        else:
            mine = f"{self.choice}: {'right' if self.choice == answer else 'not this time; the measurement decides'}"
        return f"measured answer: {answer} [measured: {measured}]\nyour prediction: {mine}"

    def reveal(self, answer: str, measured: str) -> None:
        """Print :meth:`verdict`."""
        print(self.verdict(answer, measured))

    def widget(self) -> DescribedBox:
        """The options as buttons, one under another, and a Commit button; both lock once the prediction is committed.
        Worked by mouse or keyboard (Tab to an option, Space or Enter to choose it), unlike radio buttons, whose
        arrow keys JupyterLab takes to move between cells."""
        choices = widgets.ToggleButtons(options=self.options, value=None, style={"button_width": "auto"},
                                        layout=widgets.Layout(display="flex", flex_flow="column",
                                                              align_items="flex-start"))
        button = widgets.Button(description="Commit", disabled=True, button_style="primary",
                                tooltip="Lock in your prediction before you run the measurement")
        status = widgets.Label("Choose an answer, then press Commit.")

        def chosen(_: object = None) -> None:
            button.disabled = self.choice is not None or choices.value is None

        def committed(_: object = None) -> None:
            self.commit(choices.value)
            choices.disabled = button.disabled = True
            status.value = f"Committed: {self.choice}. Now run the cells that measure it."

        choices.observe(chosen, names="value")
        button.on_click(committed)
        return DescribedBox([choices, widgets.HBox([button, status])],  # the question is printed above it (ask)
                            "[your prediction: choose an option above and press Commit (when the notebook runs)]")


def ask(question: str, options: Sequence[str]) -> Prediction:
    """Show ``question`` with its ``options`` (as text, for a reader without a kernel, and as a widget to commit a
    choice); the :class:`Prediction` that a later cell reveals."""
    prediction = Prediction(question, options)
    print(f"Predict: {question}\n" + "\n".join(f"  ({chr(97 + i)}) {option}" for i, option in enumerate(options)))
    display(prediction.widget())
    return prediction
