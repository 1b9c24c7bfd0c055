"""Slider response of the temperature explorer: compute + redraw per move, in Python, against 100 ms.

Uses the real teacher from the cache (the full profile's if trained, else the quick one's, trained now if missing)
and the real Fashion-MNIST test images; moves the T slider through 0.5 .. 50 and times each callback, which
computes the soft targets, draws the figure and renders it to PNG (what the browser then shows).

    .venv/bin/python benchmarks/slider_response.py [--moves 60] [--profile full]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from kdviz import config, data, train, widgets
from kdviz.session import setup

TARGET_MS = 100.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--moves", type=int, default=60)
    parser.add_argument("--profile", choices=sorted(config.PROFILES), default=None)
    arguments = parser.parse_args()
    setup(seed=0, profile=arguments.profile, device="cpu")
    teacher, _ = train.load_or_train("teacher", profile=arguments.profile, device="cpu", progress=False)
    images, labels = data.load("fashion-mnist", "test")
    images, labels = images[:1000], labels[:1000]
    logits = train.predict_logits(teacher, images, device="cpu")
    explorer = widgets.temperature_explorer(images, labels, logits, data.CLASSES["fashion-mnist"])
    temperature = explorer.children[1].children[0]
    values = torch.logspace(-0.3, 1.7, arguments.moves).tolist()
    times = []
    for value in values:
        started = time.perf_counter()
        temperature.value = value
        times.append(1e3 * (time.perf_counter() - started))
    times.sort()
    p90 = times[int(0.9 * (len(times) - 1))]
    median = statistics.median(times)
    print(f"temperature slider, {len(times)} moves: median {median:.1f} ms, 90th percentile {p90:.1f} ms, "
          f"max {times[-1]:.1f} ms (target: under {TARGET_MS:.0f} ms) -> {'PASS' if median < TARGET_MS else 'MISS'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
