"""Training throughput on the CPU: kdviz's own loop against a hand-written loop and the torchvision recipe.

Purpose
-------
The workbook trains every model with ``kdviz.train.fit``, which keeps Fashion-MNIST in memory as
uint8 tensors and turns each batch into floats only when the batch is formed
(``kdviz.data.batches``). This script checks that this is fast enough on a laptop CPU by
measuring training throughput (images per second) of three loops, in the same run, on the same
model architecture, the same images, batch size 128 and the same optimizer (SGD, Nesterov
momentum 0.9, weight decay 5e-4, as in ``fit``):

  (a) kdviz:        ``kdviz.train.fit(model, (images, labels), None, epochs=1, ...)``, which
                    includes its OneCycle scheduler and its running loss/accuracy sums;
  (b) hand-written: the whole subset converted once to a normalised float tensor (N, 1, 28, 28),
                    then ``for i in range(0, N, 128)`` over a random permutation:
                    forward, backward, step (the fastest reasonable thing a person would write),
                    with a convolutional model in the channels-last memory format as ``fit``
                    uses it, so that (a) / (b) measures the loop and not the layout;
  (c) DataLoader:   torchvision's ``FashionMNIST`` Dataset (built offline from the local IDX
                    files) + ``DataLoader(batch_size=128, shuffle=True)`` with
                    ``Compose([ToTensor(), Normalize(mean, std)])``, one PIL image per sample,
                    ``num_workers=0`` (what a notebook learner gets by default), and the
                    model in PyTorch's default layout, as the recipe writes it.

Each loop gets a fresh model from ``torch.manual_seed(seed)``, an untimed warm-up of a few
batches, then one timed pass over the subset. The loops are repeated ``--repeats`` times,
interleaved (a, b, c, a, b, c, ...), and the median is reported, with the ratios
kdviz / hand-written (target >= 0.9x) and kdviz / DataLoader (target >= 1.4x).
Timings on a shared machine are noisy: compare the ratios, not the absolute numbers.

Run it from the repository root:

    .venv/bin/python benchmarks/train_throughput.py

Options: ``--model mlp`` (default ``teacher``), ``--images 12800``, ``--repeats 3``,
``--workers 2`` (an extra DataLoader line with that many workers; 0 skips it), ``--threads N``,
``--quick`` (a small subset and one repeat: a smoke run of a few seconds), ``--strict``
(exit status 1 when a target is missed).
"""
from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # the benchmark is about the CPU: hide any GPU
os.environ["KDVIZ_DEVICE"] = "cpu"

import torch  # noqa: E402
import torchvision  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, Subset  # noqa: E402
from torchvision import datasets, transforms  # noqa: E402

from kdviz import data, models, train  # noqa: E402

DEVICE = torch.device("cpu")
BATCH_SIZE = 128
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4  # kdviz.train.fit's default
TARGET_VS_HAND = 0.9
TARGET_VS_LOADER = 1.4
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ru_maxrss in KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def machine_load() -> tuple[str, float]:
    """The load average and how busy the CPUs are before starting (other jobs make timings noisy)."""
    parts = []
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.2f}")
    try:
        import psutil
    except ImportError:
        return ", ".join(parts), 0.0
    busy = psutil.cpu_percent(interval=0.5)
    parts.append(f"CPUs {busy:.0f}% busy before the start")
    return ", ".join(parts), busy


def current_rss_mib() -> float | None:
    try:
        import psutil
    except ImportError:
        return None
    return psutil.Process().memory_info().rss / 2**20


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """The optimizer of kdviz.train.fit, for the two reference loops."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM, nesterov=True, weight_decay=WEIGHT_DECAY)


def fresh_model(name: str, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return models.build(name).to(DEVICE).train()


# --------------------------------------------------------------------------- (a) kdviz's loop
def run_kdviz(name: str, images: torch.Tensor, labels: torch.Tensor, lr: float, warmup: int, seed: int) -> float:
    """Seconds for one epoch of kdviz.train.fit over (images, labels), after a short warm-up fit."""
    model = fresh_model(name, seed)
    count = warmup * BATCH_SIZE
    train.fit(model, (images[:count], labels[:count]), None, epochs=1, lr=lr, batch_size=BATCH_SIZE,
              augmentation=False, progress=False, device=DEVICE, seed=seed)
    started = time.perf_counter()
    train.fit(model, (images, labels), None, epochs=1, lr=lr, batch_size=BATCH_SIZE,
              augmentation=False, progress=False, device=DEVICE, seed=seed)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- (b) hand-written loop
def hand_written_pass(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                      generator: torch.Generator, limit: int | None = None) -> None:
    count = len(y) if limit is None else min(limit, len(y))
    order = torch.randperm(len(y), generator=generator)[:count]
    for i in range(0, count, BATCH_SIZE):
        index = order[i: i + BATCH_SIZE]
        loss = nn.functional.cross_entropy(model(x[index]), y[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run_hand_written(name: str, images: torch.Tensor, labels: torch.Tensor, lr: float, warmup: int, seed: int) -> float:
    """Seconds for one pass of the minimal in-memory loop (the float conversion is done once, untimed)."""
    x = data.normalize(images).contiguous()  # (N, 1, 28, 28) float32, once for the whole subset
    model = fresh_model(name, seed)
    if any(isinstance(module, nn.Conv2d) for module in model.modules()):
        model.to(memory_format=torch.channels_last)  # prepared as kdviz's fit prepares it: the ratio is the loop's
    optimizer = make_optimizer(model, lr)
    generator = torch.Generator().manual_seed(seed)
    hand_written_pass(model, optimizer, x, labels, generator, limit=warmup * BATCH_SIZE)
    started = time.perf_counter()
    hand_written_pass(model, optimizer, x, labels, generator)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- (c) torchvision recipe
def prepare_torchvision_root(folder: Path) -> Path:
    """A root with FashionMNIST/raw/ holding the IDX files as torchvision's download would leave them.

    torchvision's ``_check_exists`` looks for the *decompressed* files in ``<root>/FashionMNIST/raw``,
    so the .gz files are linked and decompressed there; ``download=False`` then never touches the network.
    """
    source = data.find_files("fashion-mnist", "train")
    if source is None:
        raise SystemExit(data.how_to_get("fashion-mnist"))
    source_folder = source[0].parent
    raw = folder / "FashionMNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem in IDX_FILES:
        gz, plain = source_folder / f"{stem}.gz", source_folder / stem
        if plain.is_file():
            os.symlink(plain, raw / stem)
        elif gz.is_file():
            os.symlink(gz, raw / f"{stem}.gz")
            with gzip.open(gz, "rb") as src, open(raw / stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise SystemExit(f"{stem} is missing from {source_folder}")
    return folder


def torchvision_dataset(root: Path, indices: torch.Tensor, images: torch.Tensor):
    """torchvision.datasets.FashionMNIST (train) restricted to the benchmark's subset, checked equal to it."""
    info = data.dataset_info("fashion-mnist")
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((info.mean,), (info.std,))])
    full = datasets.FashionMNIST(root=str(root), train=True, download=False, transform=transform)
    if not torch.equal(full.data[indices], images):
        raise SystemExit("torchvision's FashionMNIST and kdviz.data.load disagree on the images")
    return Subset(full, indices.tolist())


def loader_pass(model: nn.Module, optimizer: torch.optim.Optimizer, loader, limit: int | None = None) -> None:
    for step, (x, y) in enumerate(loader):
        if limit is not None and step >= limit:
            break
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def run_loader(name: str, dataset, lr: float, warmup: int, seed: int, workers: int) -> float:
    """Seconds for one epoch over a DataLoader (creating its iterator, and any workers, is timed)."""
    model = fresh_model(name, seed)
    optimizer = make_optimizer(model, lr)
    generator = torch.Generator().manual_seed(seed)
    loader = DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=workers, generator=generator)
    loader_pass(model, optimizer, loader, limit=warmup)
    started = time.perf_counter()
    loader_pass(model, optimizer, loader)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- the data pipelines alone
def data_only(images: torch.Tensor, labels: torch.Tensor, x_float: torch.Tensor, dataset, seed: int) -> dict[str, float]:
    """Seconds for one pass of each loop's batch source, without a model: what each costs besides training."""
    seconds = {}
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    for _ in data.batches(images, labels, BATCH_SIZE, shuffle=True, generator=generator, device=DEVICE):
        pass
    seconds["kdviz"] = time.perf_counter() - started
    started = time.perf_counter()
    order = torch.randperm(len(labels), generator=generator)
    for i in range(0, len(labels), BATCH_SIZE):
        index = order[i: i + BATCH_SIZE]
        x_float[index], labels[index]
    seconds["hand"] = time.perf_counter() - started
    started = time.perf_counter()
    for _ in DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True, num_workers=0, generator=generator):
        pass
    seconds["loader"] = time.perf_counter() - started
    return seconds


# --------------------------------------------------------------------------- main
def describe(rates: list[float]) -> str:
    return f"{statistics.median(rates):9,.0f} img/s  (min..max {min(rates):,.0f}..{max(rates):,.0f})"


def verdict(ratio: float, target: float) -> str:
    return "PASS" if ratio >= target else "MISS"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(models.ZOO), default="teacher", help="architecture (default: teacher)")
    parser.add_argument("--images", type=int, default=None, help="training images per pass (default 12800; --quick: 512)")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved repeats of each loop (default 3; --quick: 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed warm-up batches per run (default 4; --quick: 1)")
    parser.add_argument("--workers", type=int, default=None,
                        help="also time the DataLoader with this many workers (default 2; --quick: 0 = skip)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="small subset, one repeat: a smoke run of a few seconds")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)
    quick = args.quick
    args.images = args.images if args.images is not None else (512 if quick else 12_800)
    args.repeats = args.repeats if args.repeats is not None else (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (1 if quick else 4)
    args.workers = args.workers if args.workers is not None else (0 if quick else 2)
    if args.images < BATCH_SIZE or args.repeats < 1 or args.warmup < 1 or args.workers < 0:
        parser.error(f"need --images >= {BATCH_SIZE}, --repeats >= 1, --warmup >= 1, --workers >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    lr = train.RECIPES[args.model].lr if args.model in train.RECIPES else 0.05

    rss_after_imports = peak_rss_mib()
    load_line, busy = machine_load()
    all_images, all_labels = data.load("fashion-mnist", "train")
    # The same balanced subset for every loop; subset() of the positions gives its indices for torchvision.
    indices, labels = data.subset(torch.arange(len(all_labels)), all_labels, args.images, seed=args.seed)
    images = all_images[indices]
    count = len(labels)

    print("Training throughput on the CPU: kdviz.train.fit against two reference loops")
    print(f"  torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()} "
          f"(interop {torch.get_num_interop_threads()}), device {DEVICE}")
    print(f"  model {args.model} ({sum(p.numel() for p in models.build(args.model).parameters()):,} parameters), "
          f"{count:,} images, batch {BATCH_SIZE}, SGD lr {lr} Nesterov momentum {MOMENTUM} "
          f"weight decay {WEIGHT_DECAY}, {args.warmup} warm-up batches, {args.repeats} interleaved repeat(s)")
    print(f"  machine: {load_line}")
    if busy > 25 and torch.get_num_threads() > 1:
        print(f"  WARNING: other processes are using the CPUs; {torch.get_num_threads()} torch (OpenMP) threads then "
              "contend with them and small kernels can run 10x slower or worse, so timings are very noisy; "
              "compare with --threads 1")
    print(f"  peak RSS after imports {rss_after_imports:.0f} MiB (torch + torchvision), after loading the data "
          f"{peak_rss_mib():.0f} MiB", flush=True)

    loops = {
        "(a) kdviz.train.fit": lambda: run_kdviz(args.model, images, labels, lr, args.warmup, args.seed),
        "(b) hand-written, in memory": lambda: run_hand_written(args.model, images, labels, lr, args.warmup, args.seed),
    }
    with tempfile.TemporaryDirectory(prefix="kdviz-bench-") as folder:
        dataset = torchvision_dataset(prepare_torchvision_root(Path(folder)), indices, images)
        loops["(c) DataLoader, num_workers=0"] = lambda: run_loader(args.model, dataset, lr, args.warmup, args.seed, 0)
        if args.workers:
            loops[f"(c') DataLoader, num_workers={args.workers}"] = (
                lambda: run_loader(args.model, dataset, lr, args.warmup, args.seed, args.workers))

        rates: dict[str, list[float]] = {label: [] for label in loops}
        peaks: dict[str, float] = {}
        x_float = data.normalize(images).contiguous()
        alone: dict[str, list[float]] = {"kdviz": [], "hand": [], "loader": []}
        for repeat in range(1, args.repeats + 1):
            line = []
            for label, run in loops.items():
                seconds = run()
                rates[label].append(count / seconds)
                peaks.setdefault(label, peak_rss_mib())  # peak after this loop first ran (cumulative)
                line.append(f"{label.split()[0]} {count / seconds:,.0f}")
            for key, seconds in data_only(images, labels, x_float, dataset, args.seed).items():
                alone[key].append(seconds)
            print(f"  repeat {repeat}/{args.repeats}: " + ", ".join(line) + " img/s", flush=True)
        del x_float

    print()
    print(f"Images per second (median of {args.repeats}, one timed epoch of {count:,} images each):")
    for label, values in rates.items():
        print(f"  {label:<32} {describe(values)}")
    kd, hand, loader = (statistics.median(rates[label]) for label in list(loops)[:3])
    vs_hand, vs_loader = kd / hand, kd / loader
    keys = list(loops)
    paired_hand = [a / b for a, b in zip(rates[keys[0]], rates[keys[1]])]
    paired_loader = [a / c for a, c in zip(rates[keys[0]], rates[keys[2]])]
    print()
    print("Ratios (median kdviz / median reference; per-repeat paired ratios in brackets):")
    print(f"  kdviz / hand-written : {vs_hand:5.2f}x  target >= {TARGET_VS_HAND}x  {verdict(vs_hand, TARGET_VS_HAND)}"
          f"  [{min(paired_hand):.2f}..{max(paired_hand):.2f}]")
    print(f"  kdviz / DataLoader   : {vs_loader:5.2f}x  target >= {TARGET_VS_LOADER}x  "
          f"{verdict(vs_loader, TARGET_VS_LOADER)}  [{min(paired_loader):.2f}..{max(paired_loader):.2f}]"
          "  (num_workers=0, the notebook default)")

    # Where the time goes: each loop = the same model step + its own way of making batches.
    steps = -(-count // BATCH_SIZE)
    per_batch = {key: 1e3 * statistics.median(values) / steps for key, values in alone.items()}  # ms
    step_ms = max(1e3 * count / hand / steps - per_batch["hand"], 1e-6)  # hand-written time minus its batching
    print()
    print("Where the time goes (data pipelines timed alone, without a model; median ms per batch of 128):")
    print(f"  batches: kdviz.data.batches {per_batch['kdviz']:.3f} ms, hand-written slicing {per_batch['hand']:.3f} ms, "
          f"DataLoader (workers=0) {per_batch['loader']:.3f} ms;  "
          f"model step (forward, backward, SGD) about {step_ms:.2f} ms")
    print(f"  batches alone, kdviz against the others: {per_batch['hand'] / per_batch['kdviz']:.2f}x the hand-written "
          f"slicing, {per_batch['loader'] / per_batch['kdviz']:.1f}x the DataLoader")
    print(f"  data share of a step: kdviz {100 * per_batch['kdviz'] / (step_ms + per_batch['kdviz']):.1f}%, "
          f"DataLoader {100 * per_batch['loader'] / (step_ms + per_batch['loader']):.1f}%;  "
          f"even with free batches kdviz / DataLoader could reach at most "
          f"{(step_ms + per_batch['loader']) / step_ms:.2f}x for this model")

    uint8_mib = images.numel() / 2**20
    print()
    print("Memory:")
    current = current_rss_mib()
    print(f"  peak resident memory of this process: {peak_rss_mib():.0f} MiB"
          + (f" (now {current:.0f} MiB)" if current is not None else "")
          + "; DataLoader workers are separate processes, not counted")
    print("  peak RSS (cumulative) after each loop first ran: "
          + ", ".join(f"{label.split()[0]} {peak:.0f} MiB" for label, peak in peaks.items()))
    print(f"  kdviz keeps the images uint8 until a batch is formed: {uint8_mib:.1f} MiB for {count:,} images "
          f"({all_images.numel() / 2**20:.1f} MiB for all {len(all_labels):,}), against {4 * uint8_mib:.1f} MiB "
          f"({4 * all_images.numel() / 2**20:.1f} MiB) as the float32 copy of the hand-written loop")

    missed = vs_hand < TARGET_VS_HAND or vs_loader < TARGET_VS_LOADER
    return 1 if (missed and args.strict) else 0


if __name__ == "__main__":
    sys.exit(main())
