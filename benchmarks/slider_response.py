"""Slider response of the explorers, as a ratio against a plain redraw measured in the same run.

A move of a slider runs the explorer's callback: it computes the new state, redraws the figure (in place) and
renders it to PNG, which the browser then shows. The baseline is what a slider cost before the explorers redrew in
place: a plain three-panel matplotlib figure (three line plots, titles and labels) built anew and saved to PNG.
Moves and baseline redraws alternate, so both see the same machine. The goal is a move in under 0.30 of a plain
redraw (100 ms where a plain redraw takes 330 ms).

Uses the real teacher from the cache (the full profile's if trained, else the quick one's, trained now if missing)
and the real Fashion-MNIST test images; moves the temperature explorer's T slider through 0.5 .. 50, then the
alpha/T, bit-depth and sparsity explorers' sliders through their ranges.

    .venv/bin/python benchmarks/slider_response.py [--moves 60] [--profile full] [--only temperature]
"""
from __future__ import annotations

import argparse
import gc
import io
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from matplotlib.figure import Figure

from kdviz import config, data, prune, train, widgets
from kdviz.session import setup

GOAL_RATIO = 0.30


def plain_redraw(step: int) -> bytes:
    """The baseline: a plain three-panel figure, built anew and saved to PNG."""
    x = np.linspace(0, 10, 200)
    fig = Figure(figsize=(12, 4))
    for k, ax in enumerate(fig.subplots(1, 3)):
        ax.plot(x, np.sin((k + 1) * x + step))
        ax.set(title=f"panel {k + 1}", xlabel="x", ylabel="y")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def timed(action: Callable[..., object], *arguments: object) -> float:
    """Milliseconds ``action(*arguments)`` took; then its garbage is collected, untimed, so that neither the moves
    nor the plain redraws pay for the other's."""
    started = time.perf_counter()
    action(*arguments)
    elapsed = 1e3 * (time.perf_counter() - started)
    gc.collect()
    return elapsed


def spread(times: list[float]) -> str:
    low, high = np.percentile(times, [25, 75])
    return f"median {statistics.median(times):6.1f} ms (quartiles {low:.1f} .. {high:.1f})"


def sliders(profile: str | None) -> dict[str, tuple[object, list]]:
    """Each explorer's slider and the values it is moved through, built on the teacher and the test images."""
    teacher, _ = train.load_or_train("teacher", profile=profile, device="cpu", progress=False)
    images, labels = data.load("fashion-mnist", "test")
    images, labels = images[:1000], labels[:1000]
    logits = train.predict_logits(teacher, images, device="cpu")
    classes = data.CLASSES["fashion-mnist"]
    student = torch.randn(256, 10, generator=torch.Generator().manual_seed(0))
    weights = teacher[16].weight.detach()
    curve = [{"bits": b, "accuracy": 0.9} for b in range(1, 9)]
    sparsity_curve = [{"sparsity": s / 10, "accuracy": 0.9 - s / 50} for s in range(10)]
    explorers = {
        "temperature": (widgets.temperature_explorer(images, labels, logits, classes).children[1].children[1],
                        lambda n: torch.logspace(-0.3, 1.7, n).tolist()),
        "alpha/T loss": (widgets.loss_explorer(student, logits[:256], labels[:256]).children[0].children[0],
                         lambda n: [0.5 + (i * 0.5) % 19.5 for i in range(n)]),
        "bit depth": (widgets.bits_explorer(weights, curve).children[0].children[0],
                      lambda n: [1 + i % 8 for i in range(n)]),
        "sparsity": (widgets.sparsity_explorer(prune.all_weights(teacher), sparsity_curve).children[0],
                     lambda n: [round(0.01 * (1 + (7 * i) % 89), 2) for i in range(n)]),
    }
    return explorers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default=None)
    parser.add_argument("--only", nargs="+", default=None, help="explorers to move (default: all)")
    arguments = parser.parse_args()
    if arguments.moves < 2:
        parser.error("--moves must be at least 2")
    setup(seed=0, profile=arguments.profile, device="cpu")
    explorers = sliders(arguments.profile)
    unknown = set(arguments.only or []) - set(explorers)
    if unknown:
        parser.error(f"--only takes {sorted(explorers)}, got {sorted(unknown)}")
    print(f"{arguments.moves} moves per slider, each followed by a plain redraw; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    for name, (slider, values) in explorers.items():
        if arguments.only and name not in arguments.only:
            continue
        moves, plain = [], []
        for step, value in enumerate(values(arguments.moves)):
            moves.append(timed(setattr, slider, "value", value))
            plain.append(timed(plain_redraw, step))
        ratio = statistics.median(moves) / statistics.median(plain)
        print(f"{name:>12} slider: move {spread(moves)}; plain redraw {spread(plain)}; "
              f"move / plain redraw {ratio:.2f} (goal: under {GOAL_RATIO:.2f}) -> "
              f"{'PASS' if ratio < GOAL_RATIO else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
