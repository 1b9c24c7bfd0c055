"""What measuring costs: ``kdviz.measure.latencies`` against ``torch.utils.benchmark``'s ``blocked_autorange``, and
predictions in the channels-last memory format against the default one, side by side in one run.

* Latency: both take ``--repeats`` measurements of ``--min-run-time`` seconds per model, on one thread, and report
  the median per-pass time. ``blocked_autorange`` estimates its block size again before every measurement;
  ``measure.latencies`` estimates it once per model. The script prints the seconds each spent and the medians
  each found. The medians should agree; the seconds need not.
* Predictions: ``kdviz.train.predict_logits`` (channels-last for a float convolutional model) against the same
  forward passes in the default layout, on 2,000 random images at batch 256 and one thread.

Run it from the repository root on an otherwise idle machine:

    .venv/bin/python benchmarks/measurement_cost.py [--models mlp teacher] [--min-run-time 0.05] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the question is about the CPU

import torch  # noqa: E402
from torch.utils import benchmark  # noqa: E402

from kdviz import data, measure, models, train  # noqa: E402


def torch_benchmark(model: torch.nn.Module, batch_size: int, min_run_time: float, repeats: int) -> list[float]:
    """``repeats`` medians (ms) of ``blocked_autorange`` on one thread, after the same warm-up kdviz does."""
    timer = benchmark.Timer("with torch.no_grad(): model(x)", num_threads=1,
                            globals={"model": model, "x": torch.randn(batch_size, *models.INPUT_SHAPE),
                                     "torch": torch})
    timer.timeit(2)
    return [timer.blocked_autorange(min_run_time=min_run_time).median * 1e3 for _ in range(repeats)]


def default_layout_seconds(model: torch.nn.Module, images: torch.Tensor) -> float:
    """Seconds for the forward passes of ``predict_logits``, in the model's own (default) layout."""
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(images), 256):
            model(data.normalize(images[start:start + 256]))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["mlp", "teacher"], choices=sorted(models.ZOO))
    parser.add_argument("--min-run-time", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.repeats < 1 or not args.min_run_time > 0:
        parser.error("--repeats must be at least 1 and --min-run-time positive")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, one thread, {args.repeats} measurements of {args.min_run_time} s each; "
          f"load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'model':>10} {'batch':>6} | {'kdviz s':>8} {'torch s':>8} {'torch / kdviz':>14} | "
          f"{'kdviz ms':>9} {'torch ms':>9}")
    zoo = {name: models.build(name).eval() for name in args.models}
    for batch_size in measure.BATCH_SIZES:
        for name, model in zoo.items():
            started = time.perf_counter()
            ours = measure.latencies({name: model}, batch_size, repeats=args.repeats,
                                     min_run_time=args.min_run_time)[name]
            middle = time.perf_counter()
            theirs = statistics.median(torch_benchmark(model, batch_size, args.min_run_time, args.repeats))
            ended = time.perf_counter()
            print(f"{name:>10} {batch_size:>6} | {middle - started:8.2f} {ended - middle:8.2f} "
                  f"{(ended - middle) / (middle - started):13.2f}x | {ours.median:9.3f} {theirs:9.3f}")
    images = torch.randint(0, 256, (2000, 28, 28), dtype=torch.uint8)
    print(f"\n{'model':>10} | {'channels-last s':>15} {'default s':>10} {'default / CL':>13}   (2,000 images, batch 256)")
    for name, model in zoo.items():
        rounds = []
        for _ in range(3):  # interleaved, so drifts of the machine hit both alike
            started = time.perf_counter()
            train.predict_logits(model, images, device="cpu")
            middle = time.perf_counter()
            rounds.append((middle - started, default_layout_seconds(model, images)))
        ours, theirs = (statistics.median(values) for values in zip(*rounds))
        print(f"{name:>10} | {ours:15.2f} {theirs:10.2f} {theirs / ours:12.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
