"""Training speed of the zoo's models by memory format and threads: why ``fit`` trains channels-last, and why
``python -m kdviz prepare`` runs one job per core on one thread each.

For each model, in one run and interleaved, one SGD step (forward, backward, Nesterov momentum, batch 128 of
random 28x28 images) is timed in four set-ups: the default (NCHW) or channels-last memory format, on one thread
or on every core. The median images per second over ``--repeats`` rounds is printed, with two same-run ratios:

* channels-last / NCHW on one thread (what ``kdviz.train.fit`` gains by training channels-last);
* two single-threaded jobs side by side / one job on all the threads, estimated as 2 x (1 thread) / (all
  threads) for a two-core machine: above 1, two jobs at once finish sooner than the same two one after the other.

Run it from the repository root on an otherwise idle machine:

    .venv/bin/python benchmarks/layout_and_threads.py [--models teacher student_cnn] [--steps 15] [--repeats 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the question is about the CPU

import torch  # noqa: E402
from torch import nn  # noqa: E402

from kdviz import config, models  # noqa: E402

BATCH_SIZE = 128


def images_per_second(name: str, channels_last: bool, threads: int, steps: int, seed: int = 0) -> float:
    """Images per second of ``steps`` SGD steps after two untimed ones."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    model = models.build(name).train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x, y = torch.randn(BATCH_SIZE, 1, 28, 28), torch.randint(0, 10, (BATCH_SIZE,))

    def step() -> None:
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return BATCH_SIZE * steps / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["teacher", "separable_cnn", "fire_cnn", "compact_cnn",
                                                        "student_cnn", "mlp"], choices=sorted(models.ZOO))
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be at least 1")
    cores = config.available_cores()
    print(f"torch {torch.__version__}, {cores} cores, batch {BATCH_SIZE}, median of {args.repeats} rounds of "
          f"{args.steps} steps; load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'model':>14} | {'NCHW 1t':>8} {'CL 1t':>8} {'NCHW all':>9} {'CL all':>8} | {'CL / NCHW (1t)':>14} "
          f"{'2 jobs x 1t / 1 job x all (CL)':>31}")
    setups = [(False, 1), (True, 1), (False, cores), (True, cores)]
    for name in args.models:
        rates: dict[tuple[bool, int], list[float]] = {setup: [] for setup in setups}
        for _ in range(args.repeats):
            for channels_last, threads in setups:  # interleaved, so drifts of the machine hit every set-up alike
                rates[(channels_last, threads)].append(images_per_second(name, channels_last, threads, args.steps))
        median = {setup: statistics.median(values) for setup, values in rates.items()}
        side_by_side = min(cores, 2) * median[(True, 1)] / median[(True, cores)]
        print(f"{name:>14} | {median[(False, 1)]:8,.0f} {median[(True, 1)]:8,.0f} {median[(False, cores)]:9,.0f} "
              f"{median[(True, cores)]:8,.0f} | {median[(True, 1)] / median[(False, 1)]:13.2f}x {side_by_side:30.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
