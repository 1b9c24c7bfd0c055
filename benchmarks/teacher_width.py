"""What a narrower teacher costs and keeps: the teacher's architecture at several widths, each trained with the
full profile's teacher recipe (``kdviz.train.RECIPES["teacher"]``) in one run, one after the other. For each width
it prints the MACs per image, the parameters, the training time, the images per second and the test accuracy
after every epoch, and the time as a ratio of the first width's.

Run it from the repository root on an otherwise idle machine (the full recipe: about 10 minutes per width on
2 cores):

    .venv/bin/python benchmarks/teacher_width.py [--widths 32 24] [--epochs 15] [--images N]
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the question is about the CPU

import torch  # noqa: E402

from kdviz import config, data, measure, models, train  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", nargs="+", type=int, default=[32, 24])
    parser.add_argument("--epochs", type=int, default=train.RECIPES["teacher"].epochs)
    parser.add_argument("--images", type=int, default=None, help="training images (default: the full profile's)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.epochs < 1 or min(args.widths) < 1 or (args.images is not None and args.images < 1):
        parser.error("--epochs, --widths and --images must be at least 1")
    recipe = train.RECIPES["teacher"]
    profile = config.get_profile("full")
    images = profile if args.images is None else replace(profile, train_size=args.images, test_size=args.images)
    train_split = data.load_profile_split(recipe.dataset, "train", images, seed=0)
    test_split = data.load_profile_split(recipe.dataset, "test", images, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {len(train_split[1]):,} training images, "
          f"{len(test_split[1]):,} test images, {args.epochs} epochs, seed {args.seed}; load average "
          f"{os.getloadavg()[0]:.2f} at the start")
    first_seconds = None
    for width in args.widths:
        config.seed_everything(args.seed)
        model = models.build("teacher", width=width)
        macs, parameters = measure.macs(model), measure.count_parameters(model)
        started = time.perf_counter()
        history = train.fit(model, train_split, test_split, epochs=args.epochs, lr=recipe.lr,
                            batch_size=recipe.batch_size, weight_decay=recipe.weight_decay,
                            augmentation=recipe.augmentation, seed=args.seed, progress=False)
        seconds = time.perf_counter() - started
        first_seconds = first_seconds or seconds
        accuracies = ", ".join(f"{100 * record['test_accuracy']:.2f}" for record in history.records)
        print(f"width {width}: {macs / 1e6:.2f} M MACs, {parameters:,} parameters, {seconds:.1f} s "
              f"({len(train_split[1]) * args.epochs / seconds:,.0f} images/s, {seconds / first_seconds:.2f}x the "
              f"first width's time), test accuracy by epoch (%): {accuracies}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
