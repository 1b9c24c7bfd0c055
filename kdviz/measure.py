"""What a model costs: parameters, non-zeros, bytes, MACs, CPU latency, and one table across models (introduced in 00)."""
from __future__ import annotations

import io
import logging
import statistics
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # quiet "no CUDA runtime" on CPU builds
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from kdviz import models as zoo  # noqa: E402  (summary's argument is called models)

BATCH_SIZES = (1, 256)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (weights and biases; buffers such as batch-norm statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_nonzero(model: nn.Module) -> int:
    """Number of parameters that are not exactly zero (pruning masks applied, if any)."""
    return sum(int(torch.count_nonzero(p.detach())) for p in _effective_parameters(model))


def _effective_parameters(model: nn.Module) -> list[torch.Tensor]:
    # a module pruned with torch.nn.utils.prune keeps weight_orig and a mask; its `weight` attribute is the product
    tensors = []
    for module in model.modules():
        for name, parameter in module.named_parameters(recurse=False):
            if name.endswith("_orig") and hasattr(module, name[: -len("_orig")]):
                tensors.append(getattr(module, name[: -len("_orig")]))
            else:
                tensors.append(parameter)
    return tensors


def serialized_bytes(model: nn.Module) -> int:
    """Bytes of the model's ``state_dict`` as ``torch.save`` writes it (what a checkpoint file costs)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


def macs(model: nn.Module, input_shape: tuple[int, ...] = (1, *zoo.INPUT_SHAPE)) -> int:
    """Multiply-accumulates of one forward pass, from ``torch.utils.flop_counter`` (FLOPs / 2)."""
    if len(input_shape) < 2 or any(int(s) <= 0 for s in input_shape):
        raise ValueError(f"input_shape must be positive sizes starting with the batch, got {input_shape!r}")
    device = zoo.device_of(model)
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(input_shape, device=device))
    model.train(was_training)
    return counter.get_total_flops() // 2


def latency_ms(model: nn.Module, batch_size: int = 1, *, min_run_time: float = 0.5,
               input_shape: tuple[int, ...] = zoo.INPUT_SHAPE, threads: int | None = None) -> float:
    """Median CPU time of one forward pass at ``batch_size``, in milliseconds: one measurement, as
    :func:`latencies` takes it. To compare models, use :func:`latencies`, which repeats it and gives the spread."""
    return latencies({"model": model}, batch_size, repeats=1, min_run_time=min_run_time, input_shape=input_shape,
                     threads=threads)["model"].median


@dataclass(frozen=True)
class Latency:
    """Milliseconds of one forward pass: the median of several repeated measurements, and their lowest and highest."""

    median: float
    low: float
    high: float
    repeats: int

    def against(self, baseline: "Latency") -> str:
        """How this compares with ``baseline``: "1.24x faster", "1.30x slower", or "no measurable difference"
        where the two ranges overlap."""
        if self.high < baseline.low:
            return f"{baseline.median / self.median:.2f}x faster"
        if self.low > baseline.high:
            return f"{self.median / baseline.median:.2f}x slower"
        return "no measurable difference"

    @classmethod
    def from_row(cls, row: "pd.Series | dict", batch_size: int) -> "Latency":
        """The latency at ``batch_size`` from a row of :func:`summary` or :func:`profile_model`."""
        column = f"ms @ batch {batch_size}"
        return cls(row[column], row[f"{column} low"], row[f"{column} high"], int(row["repeats"]))


def latencies(models: dict[str, nn.Module], batch_size: int = 1, *, repeats: int = 5, min_run_time: float = 0.5,
              input_shape: tuple[int, ...] = zoo.INPUT_SHAPE, threads: int | None = None) -> dict[str, Latency]:
    """Each model's :class:`Latency` over ``repeats`` measurements of ``min_run_time`` seconds. The models take
    turns, each repeat measuring all of them, so a busy moment of the machine falls on every model alike."""
    _check_timing(batch_size, min_run_time)
    _check_threads(threads)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    samples: dict[str, list[float]] = {name: [] for name in models}
    with _torch_threads(threads):
        timers = {name: _timer(zoo.copy_model(model).cpu().eval(), batch_size, input_shape)
                  for name, model in models.items()}  # copied under these threads: a runtime that reads them at build
        calls = {name: _calls_per_block(timer, min_run_time) for name, timer in timers.items()}
        for _ in range(repeats):
            for name, timer in timers.items():
                samples[name].append(_measure_ms(timer, calls[name], min_run_time))
    return {name: Latency(statistics.median(values), min(values), max(values), repeats)
            for name, values in samples.items()}


def _calls_per_block(timer: timeit.Timer, min_run_time: float) -> int:
    """Forward passes per timed block, after two passes of warm-up (the first ones pick kernels and allocate):
    enough for about a tenth of ``min_run_time``, so that a measurement holds about ten blocks and the timer's own
    overhead (a microsecond) is negligible. Chosen once per model, where ``torch.utils.benchmark``'s
    ``blocked_autorange`` estimates it again before every measurement, which costs about as much as measuring."""
    timer.timeit(2)
    one_pass = timer.timeit(1)
    return max(1, int(min_run_time / 10 / max(one_pass, 1e-9)))


def _measure_ms(timer: timeit.Timer, calls: int, min_run_time: float) -> float:
    """One measurement: blocks of ``calls`` forward passes until ``min_run_time`` seconds have passed; the median
    block's time per pass, in milliseconds (``blocked_autorange``'s statistic)."""
    per_pass, spent = [], 0.0
    while spent < min_run_time:
        block = timer.timeit(calls)
        per_pass.append(block / calls)
        spent += block
    return statistics.median(per_pass) * 1e3


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` meanwhile (None: as they are)."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_threads(threads: int | None) -> None:
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive integer or None, got {threads!r}")


def _check_timing(batch_size: int, min_run_time: float) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(min_run_time, (int, float)) or isinstance(min_run_time, bool) \
            or not 0 < min_run_time < float("inf"):
        raise ValueError(f"min_run_time must be a positive, finite number of seconds, got {min_run_time!r}")


def _timer(cpu_model: nn.Module, batch_size: int, input_shape: tuple[int, ...]) -> timeit.Timer:
    """A timer of one forward pass without gradients (Python's ``timeit``: the clock is ``time.perf_counter``, and
    the garbage collector waits while a block runs)."""
    images = torch.randn(batch_size, *input_shape)

    def forward() -> None:
        with torch.no_grad():
            cpu_model(images)

    return timeit.Timer(forward)


def profile_model(model: nn.Module, *, accuracy: float | None = None, min_run_time: float = 0.5, repeats: int = 5,
                  counts: bool = True, file_bytes: int | None = None) -> dict:
    """Every cost of one model as a dict (a row of :func:`summary`). ``counts=False`` leaves out parameters,
    non-zeros and MACs (an int8 or sparse model has no FLOP count); ``file_bytes`` replaces the measured bytes
    where the model is stored another way (sparse storage)."""
    return summary({"model": model}, {"model": accuracy}, min_run_time=min_run_time, repeats=repeats, counts=counts,
                   file_bytes={"model": file_bytes} if file_bytes is not None else None).iloc[0].to_dict()


def summary(models: dict[str, nn.Module], accuracies: dict[str, float | None] | None = None, *,
            min_run_time: float = 0.5, repeats: int = 5, counts: bool = True,
            file_bytes: dict[str, int] | None = None) -> pd.DataFrame:
    """One table (a pandas DataFrame, a row per model) of parameters, non-zeros, bytes, MACs, latency, accuracy
    (``counts`` and ``file_bytes`` as in :func:`profile_model`). Each latency is the median of ``repeats``
    measurements taken in turns with the other models', with its lowest and highest ("ms @ batch 1 low", "... high")."""
    if not models:
        raise ValueError("models must name at least one model")
    accuracies, file_bytes = accuracies or {}, file_bytes or {}
    for argument, named in (("accuracies", accuracies), ("file_bytes", file_bytes)):
        unknown = set(named) - set(models)
        if unknown:
            raise ValueError(f"{argument} names models not in models: {sorted(unknown)}")
    rows: dict[str, dict] = {}
    for name, model in models.items():
        rows[name] = {"parameters": count_parameters(model), "nonzero": count_nonzero(model)} if counts else {}
        rows[name]["bytes"] = file_bytes[name] if file_bytes.get(name) is not None else serialized_bytes(model)
        if counts:
            rows[name]["MACs"] = macs(model)
    for batch_size in BATCH_SIZES:
        column = f"ms @ batch {batch_size}"
        for name, latency in latencies(models, batch_size, repeats=repeats, min_run_time=min_run_time).items():
            rows[name].update({column: latency.median, f"{column} low": latency.low, f"{column} high": latency.high})
    for name in models:
        rows[name].update({"repeats": repeats, "accuracy": accuracies.get(name)})
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "model"
    return table


def layer_costs(model: nn.Module, input_shape: tuple[int, ...] = (1, *zoo.INPUT_SHAPE)) -> list[dict]:
    """Parameters and MACs of each layer that has weights, in forward order (where the bytes and the work go)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def remember_input_shape(name: str):
        def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            shapes.setdefault(name, tuple(inputs[0].shape))
        return hook

    hooks = [module.register_forward_hook(remember_input_shape(name)) for name, module in model.named_modules()
             if not list(module.children()) and any(True for _ in module.parameters(recurse=False))]
    try:
        macs(model, input_shape)
    finally:
        for hook in hooks:
            hook.remove()
    modules = dict(model.named_modules())
    return [{"layer": f"{name} {type(modules[name]).__name__}", "parameters": count_parameters(modules[name]),
             "MACs": macs(modules[name], shape)} for name, shape in shapes.items()]


def memory_traffic(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Bytes a forward pass must at least move: each leaf layer reads its input and weights and writes its output
    (float32; caches ignored). MACs per byte of this says whether a layer is compute- or memory-bound (01)."""
    total = 0

    def count(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        weights = sum(p.numel() for p in module.parameters(recurse=False))
        total += 4 * (inputs[0].numel() + output.numel() + weights)

    hooks = [module.register_forward_hook(count) for module in model.modules() if not list(module.children())]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(input_shape, device=zoo.device_of(model)))
    finally:
        for hook in hooks:
            hook.remove()
    return total


def compare_layers(layers: dict[str, nn.Module], input_shape: tuple[int, ...], batch_size: int = 64, *,
                   min_run_time: float = 0.5, repeats: int = 5) -> list[dict]:
    """MACs, bytes moved, measured CPU latency and achieved GMAC/s of each layer on one input shape (C, H, W)
    (introduced in 01: fewer MACs is not always proportionally faster)."""
    if not layers:
        raise ValueError("layers must name at least one layer")
    timed = latencies(layers, batch_size, repeats=repeats, min_run_time=min_run_time, input_shape=tuple(input_shape))
    rows = []
    for name, layer in layers.items():
        shape = (batch_size, *input_shape)
        work, traffic = macs(layer, shape), memory_traffic(layer, shape)
        latency = timed[name]
        rows.append({"layer": name, "MACs": work, "bytes moved": traffic, "MACs per byte": work / traffic,
                     "ms": latency.median, "ms low": latency.low, "ms high": latency.high,
                     "GMAC/s": work / latency.median / 1e6})
    return rows


FORMATS = {"parameters": "{:,.0f}", "nonzero": "{:,.0f}", "bytes": "{:,.0f}", "MACs": "{:,.0f}", "repeats": "{:.0f}",
           "accuracy": "{:.2%}", "accuracy sd": "{:.2%}", "accuracy (%)": "{:.2f}", "kB": "{:,.1f}",
           "times smaller": "{:.1f}x", "points lost": "{:+.2f}", "MMACs": "{:.2f}"}


def styled(table: pd.DataFrame) -> "pd.io.formats.style.Styler":
    """The table for display: counts with thousands separators, accuracies as percentages, milliseconds to three
    decimals at batch 1 and one at larger batches (with their measured range)."""
    formats = {column: FORMATS[column] for column in table.columns if column in FORMATS}
    formats.update({column: "{:.3f}" for column in table.columns
                    if column == "ms @ batch 1" or column.startswith("ms @ batch 1 ")})
    formats.update({column: "{:.1f}" for column in table.columns
                    if column.startswith("ms @ batch ") and column not in formats})
    return table.style.format(formats, na_rep="–")
