"""Interactive explorers: thin ipywidgets wrappers over a compute function and a plot function.

Each explorer shows a picture (PNG) that its controls redraw. The slider explorers keep one figure and change its
drawn artists in place (kdviz.plots' ``update`` methods) instead of building a new figure at every move, so a slider
keeps up with a hand (``benchmarks/slider_response.py``). Every control works by mouse and by keyboard in JupyterLab:
sliders take the arrow, Home and End keys, buttons and check boxes Tab then Space or Enter; no dropdown or selection
list, whose arrow keys JupyterLab takes to move between cells.
"""
from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from kdviz import architectures, data, distill, low_rank, pareto, plots, prune, quantize
from kdviz.boxes import DescribedBox, class_buttons, explorer_summary


@contextmanager
def _one_thread() -> Iterator[None]:
    """Within the block, PyTorch computes on one thread: a slider's computations are tiny, and more threads only wait
    on each other, worst when another process keeps a core busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _picture() -> widgets.Image:
    return widgets.Image(format="png")


def dataset_explorer(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], count: int = 8) -> DescribedBox:
    """Browse a data set one class at a time (notebook 00): a button per class and a position slider."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count!r}")
    smallest_class = int(data.class_counts(labels, len(classes)).min())
    label = class_buttons(classes)
    start = widgets.IntSlider(value=0, min=0, max=max(smallest_class - count, 0), step=count,
                              description="first image", continuous_update=False)
    picture = _picture()

    def redraw(_: object = None) -> None:
        pictures = data.class_examples(images, labels, label.value, start.value, count)
        title = f"{classes[label.value]}: images {start.value} to {start.value + len(pictures) - 1}"
        picture.value = plots.to_png(plots.plot_images(pictures, columns=count, suptitle=title))

    label.observe(redraw, names="value")
    start.observe(redraw, names="value")
    redraw()
    return DescribedBox([label, start, picture], explorer_summary("data set explorer"))


def convolution_view(in_channels: int, out_channels: int, kernel_size: int, size: int, squeeze: int) -> Figure:
    """Compute and draw one state of the convolution explorer: four layers mapping M to N channels (notebook 01)."""
    costs = architectures.compare_costs(in_channels, out_channels, kernel_size, size, squeeze)
    ratio = architectures.separable_ratio(out_channels, kernel_size)
    title = (f"M = {in_channels} -> N = {out_channels} channels, {kernel_size}x{kernel_size} kernel, "
             f"{size}x{size} map; separable / standard = 1/N + 1/Dk² = {ratio:.3f}")
    return plots.plot_convolution_costs(costs, title)


def convolution_explorer(in_channels: int = 32, out_channels: int = 64, kernel_size: int = 3, size: int = 14,
                         squeeze: int = 8) -> DescribedBox:
    """Sliders for M, N, Dk, Df and the squeeze width: parameters and MACs of standard, depthwise-separable,
    1x1-bottleneck and fire-module layers, and the separable ratio (notebook 01)."""
    architectures.compare_costs(in_channels, out_channels, kernel_size, size, squeeze)  # names a bad argument
    if not (in_channels <= 512 and out_channels <= 512 and kernel_size <= 7 and size <= 112 and squeeze <= 256):
        raise ValueError("the explorer's ranges are in_channels, out_channels 1..512, kernel_size 1..7 (odd), "
                         f"size 1..112, squeeze 1..256; got {in_channels}, {out_channels}, {kernel_size}, "
                         f"{size}, {squeeze}")

    def slider(value: int, low: int, high: int, description: str, step: int = 1) -> widgets.IntSlider:
        return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                                 continuous_update=False, style={"description_width": "initial"})

    sliders = [slider(in_channels, 1, 512, "input channels M"), slider(out_channels, 2, 512, "output channels N"),
               slider(kernel_size, 1, 7, "kernel size Dk", step=2), slider(size, 1, 112, "map size Df"),
               slider(squeeze, 1, 256, "squeeze width")]
    picture = _picture()

    def redraw(_: object = None) -> None:
        picture.value = plots.to_png(convolution_view(*(s.value for s in sliders)))

    for control in sliders:
        control.observe(redraw, names="value")
    redraw()
    return DescribedBox([*sliders, picture], explorer_summary("convolution explorer"))


def temperature_title(teacher_logits: torch.Tensor, index: int, T: float) -> str:
    """What the temperature explorer shows of image ``index`` at T, in words: T and the soft targets' entropy."""
    bits = float(distill.entropy(distill.soft_targets(teacher_logits[index], T)))
    return f"teacher's soft targets at T = {T:.3g} (entropy {bits:.2f} bits)"


def temperature_view(images: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                     classes: Sequence[str], index: int, T: float, log_scale: bool = True,
                     into: plots.ClassProbabilities | None = None, titled: bool = True,
                     smallest: float | None = None) -> Figure:
    """Compute and draw one state of the temperature explorer: the image and its soft targets at T (notebook 04);
    redrawn in place ``into`` an explorer's figure (of the same scale) where one is given, without its
    :func:`temperature_title` unless ``titled`` (the explorer shows the title as text beside the figure), and with
    the log axis from ``smallest`` where given (see plots.ClassProbabilities.update)."""
    probabilities = distill.soft_targets(teacher_logits[index], T)
    title = temperature_title(teacher_logits, index, T) if titled else ""
    figure = into if into is not None else plots.ClassProbabilities(classes, log_scale)
    return figure.update(images[index], probabilities, int(labels[index]), title, smallest).figure


def _caption() -> widgets.HTML:
    """The title of an explorer's figure, as text the browser draws (a slider's move then redraws less)."""
    return widgets.HTML(layout=widgets.Layout(margin="8px 0 0 12px"))


def _set_caption(caption: widgets.HTML, text: str) -> None:
    caption.value = f"<b style='font-size: 1.25em'>{html.escape(text, quote=False)}</b>"


def temperature_explorer(images: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                         classes: Sequence[str], T: float = 1.0, index: int | None = None) -> DescribedBox:
    """Pick a test image (class, then example) and drag the temperature (log slider, 0.5 to 50) (notebook 04);
    it opens on image ``index`` (default: the first image)."""
    if not (len(images) == len(labels) == len(teacher_logits)):
        raise ValueError("images, labels and teacher_logits must have one entry per image, got "
                         f"{len(images)}, {len(labels)} and {len(teacher_logits)}")
    distill.validate_temperature(T)
    index = 0 if index is None else index
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(labels):
        raise ValueError(f"index must be an image's position, 0..{len(labels) - 1}, got {index!r}")
    per_class = [torch.nonzero(labels == c).flatten() for c in range(len(classes))]
    first = int(labels[index])
    label = class_buttons(classes, first)
    example = widgets.IntSlider(value=int((per_class[first] == index).nonzero()[0]), min=0,
                                max=max(len(per_class[first]) - 1, 0), description="example", continuous_update=False)
    temperature = widgets.FloatLogSlider(value=T, base=10, min=-0.3, max=1.7, step=0.01,  # 0.5 .. 50, 1 on the grid
                                         description="T", readout_format=".3g")
    scale = widgets.ToggleButtons(options=[("log scale", True), ("linear", False)], value=True)
    picture, caption = _picture(), _caption()
    figures: dict[bool, plots.ClassProbabilities] = {}  # one per scale, each redrawn in place
    lowest_T = 10 ** temperature.min  # the smallest probabilities are at the lowest T: the log axis starts there

    def redraw(_: object = None) -> None:
        members = per_class[label.value]
        if len(members) == 0:
            return
        example.max = len(members) - 1
        index = int(members[min(example.value, len(members) - 1)])
        if scale.value not in figures:
            figures[scale.value] = plots.ClassProbabilities(classes, scale.value)
        figure = figures[scale.value]
        with _one_thread():
            temperature_view(images, labels, teacher_logits, classes, index, temperature.value, scale.value,
                             into=figure, titled=False,
                             smallest=float(distill.soft_targets(teacher_logits[index], lowest_T).min()))
            _set_caption(caption, temperature_title(teacher_logits, index, temperature.value))
        picture.value = figure.png()

    for control in (label, example, temperature, scale):
        control.observe(redraw, names="value")
    redraw()
    return DescribedBox([label, widgets.HBox([example, temperature, scale]), caption, picture],
                        explorer_summary("temperature explorer"))


def loss_limits(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                temperatures: Sequence[float]) -> tuple[float, float]:
    """The largest loss term and the largest gradient norm the alpha/T explorer can show at these temperatures, for
    any alpha: every term is alpha or (1 - alpha) times a quantity that does not depend on alpha, so the soft terms
    are largest at alpha = 1 and the hard ones at alpha = 0. The explorer's axes reach them and hold still."""
    hard = distill.loss_breakdown(student_logits, teacher_logits, labels, temperatures[0], 0.0)
    soft = [distill.loss_breakdown(student_logits, teacher_logits, labels, T, 1.0) for T in temperatures]
    return (max([hard.hard] + [p.soft for p in soft]),
            max([hard.hard_grad] + [max(p.soft_grad, p.soft_grad_without_T2) for p in soft]))


def loss_explorer(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                  T: float = 8.0, alpha: float = 0.9) -> DescribedBox:
    """Drag T and alpha over a real batch: both loss terms and their gradient norms (notebook 04)."""
    distill.validate_temperature(T), distill.validate_alpha(alpha)  # before a slider silently clamps them
    distill.validate_batch(student_logits, teacher_logits, labels)
    temperature = widgets.FloatSlider(value=T, min=0.5, max=20.0, step=0.5, description="T")
    weight = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha")
    picture, caption = _picture(), _caption()
    figure = plots.LossBreakdownFigure()
    grid = [temperature.min + i * temperature.step
            for i in range(round((temperature.max - temperature.min) / temperature.step) + 1)]
    limits = loss_limits(student_logits, teacher_logits, labels, grid)

    def redraw(_: object = None) -> None:
        with _one_thread():
            parts = distill.loss_breakdown(student_logits, teacher_logits, labels, temperature.value, weight.value)
        _set_caption(caption, plots.loss_breakdown_title(parts))
        picture.value = figure.update(parts, titled=False, limits=limits).png()

    temperature.observe(redraw, names="value")
    weight.observe(redraw, names="value")
    redraw()
    return DescribedBox([widgets.HBox([temperature, weight]), caption, picture],
                        explorer_summary("alpha/T loss explorer"))


def sparsity_view(weights: torch.Tensor, curve: list[dict], sparsity: float,
                  into: plots.SparsityState | None = None, magnitudes: torch.Tensor | None = None) -> Figure:
    """Compute and draw one state of the sparsity explorer (notebook 02); redrawn in place ``into`` an explorer's
    figure where one is given, with the threshold read from the weights' ``magnitudes`` sorted once
    (prune.sorted_magnitudes) where they are given."""
    threshold = (prune.global_threshold(weights, sparsity) if magnitudes is None
                 else prune.threshold_of_sorted(magnitudes, sparsity))
    figure = into if into is not None else plots.SparsityState(weights, curve)
    return figure.update(sparsity, threshold).figure


def sparsity_explorer(weights: torch.Tensor, curve: list[dict], sparsity: float = 0.5) -> DescribedBox:
    """Drag the global sparsity: which weights go (histogram) and the measured accuracy there (notebook 02).

    ``curve`` is a precomputed one-shot curve (rows with sparsity and accuracy), so the slider answers at once.
    """
    prune.validate_amount(sparsity, "sparsity")
    if not curve:
        raise ValueError("curve must hold measured rows of sparsity and accuracy (prune.one_shot_curve)")
    weights = weights.detach().flatten().cpu()
    top = max(0.01, min(0.99, round(max(r["sparsity"] for r in curve), 2)))
    slider = widgets.FloatSlider(value=min(sparsity, top), min=0.0, max=top, step=0.01, description="sparsity",
                                 readout_format=".0%")
    picture = _picture()
    figure, magnitudes = plots.SparsityState(weights, curve), prune.sorted_magnitudes(weights)

    def redraw(_: object = None) -> None:
        sparsity_view(weights, curve, slider.value, into=figure, magnitudes=magnitudes)
        picture.value = figure.png()

    slider.observe(redraw, names="value")
    redraw()
    return DescribedBox([slider, picture], explorer_summary("sparsity explorer"))


def bits_state(weights: torch.Tensor, bits: int, symmetric: bool = True) -> tuple[torch.Tensor, dict[str, float]]:
    """One state of the bit-depth explorer (notebook 03): the per-tensor grid's levels and its error on ``weights``."""
    params = quantize.choose_qparams(weights, bits, symmetric)
    return quantize.levels(params), quantize.error(weights, quantize.round_trip(weights, params))


def bits_view(weights: torch.Tensor, bits: int, symmetric: bool = True, curve: list[dict] | None = None,
              into: plots.QuantizationState | None = None,
              state: tuple[torch.Tensor, dict[str, float]] | None = None) -> Figure:
    """Compute (or take the computed ``state``, from :func:`bits_state`) and draw one state of the bit-depth
    explorer; redrawn in place ``into`` an explorer's figure where one is given."""
    levels, error = state if state is not None else bits_state(weights, bits, symmetric)
    kind = "symmetric" if symmetric else "asymmetric"
    figure = into if into is not None else plots.QuantizationState(weights, curve)
    return figure.update(levels, bits, error, title=f"{bits}-bit {kind} grid, per tensor").figure


def bits_explorer(weights: torch.Tensor, curve: list[dict] | None = None, bits: int = 4) -> DescribedBox:
    """A bit-depth slider (8 down to 1) and a symmetric/asymmetric switch over one tensor of weights: the grid, the
    error, and the measured accuracy from a precomputed curve (rows with bits and accuracy) (notebook 03)."""
    quantize.validate_bits(bits)
    weights = weights.detach().flatten().cpu()
    depth = widgets.IntSlider(value=min(bits, 8), min=1, max=8, description="bits", continuous_update=False)
    scheme = widgets.ToggleButtons(options=[("symmetric", True), ("asymmetric", False)], value=True)
    picture = _picture()
    figure = plots.QuantizationState(weights, curve)
    states: dict[tuple[int, bool], tuple[torch.Tensor, dict[str, float]]] = {}  # 16 at most, each computed once

    def redraw(_: object = None) -> None:
        key = (depth.value, scheme.value)
        if key not in states:
            states[key] = bits_state(weights, *key)
        bits_view(weights, depth.value, scheme.value, curve, into=figure, state=states[key])
        picture.value = figure.png()

    depth.observe(redraw, names="value")
    scheme.observe(redraw, names="value")
    redraw()
    return DescribedBox([widgets.HBox([depth, scheme]), picture], explorer_summary("bit-depth explorer"))


def rank_view(values: torch.Tensor, sweep: dict, finetuned: Sequence[dict], rank: int) -> Figure:
    """Compute and draw one state of the rank explorer: the energy kept at ``rank`` and what the model then costs
    and keeps (notebook 01)."""
    row = next((r for r in sweep["ranks"] if r["rank"] == rank), None)
    if row is None:
        raise ValueError(f"rank must be one of the sweep's ranks {[r['rank'] for r in sweep['ranks']]}, got {rank!r}")
    smaller = sweep["teacher"]["bytes"] / row["bytes"]
    return plots.plot_low_rank(values, sweep, finetuned, rank,
                               f"rank {rank}: {100 * low_rank.energy_kept(values, rank):.1f} % of the layer's energy, "
                               f"a {smaller:.1f}x smaller model, {100 * row['accuracy']:.2f} % before fine-tuning")


def rank_explorer(values: torch.Tensor, sweep: dict, finetuned: Sequence[dict], rank: int = 16) -> DescribedBox:
    """A slider over the sweep's ranks: the spectrum cut at that rank, and the measured accuracy, factorized and
    fine-tuned, against the rank (notebook 01)."""
    ranks = [r["rank"] for r in sweep["ranks"]]
    if rank not in ranks:
        raise ValueError(f"rank must be one of the sweep's ranks {ranks}, got {rank!r}")
    slider = widgets.SelectionSlider(options=ranks, value=rank, description="rank", continuous_update=False)
    picture = _picture()

    def redraw(_: object = None) -> None:
        picture.value = plots.to_png(rank_view(values, sweep, finetuned, slider.value))

    slider.observe(redraw, names="value")
    redraw()
    return DescribedBox([slider, picture], explorer_summary("rank explorer"))


def pareto_view(rows: Sequence[dict], cost: str = "bytes", families: Sequence[str] | None = None) -> Figure:
    """Compute and draw one state of the Pareto explorer: the chosen families' models and their front (notebook 05)."""
    shown = [r for r in rows if families is None or r["family"] in families]
    if not shown:
        raise ValueError(f"families must name at least one family of the rows, got {families!r}")
    return plots.plot_pareto(shown, cost)


NO_FAMILY = "Tick at least one family to draw the chart."


def pareto_explorer(rows: Sequence[dict], cost: str = "bytes") -> DescribedBox:
    """Pick the cost axis (bytes, latency at batch 1 or 256) and tick the families shown: the bubble chart and its
    front are redrawn from the measured rows, each family keeping its colour and marker (notebook 05)."""
    if cost not in pareto.COSTS:
        raise ValueError(f"cost must be one of {list(pareto.COSTS)}, got {cost!r}")
    present = [f for f in pareto.FAMILIES if any(r["family"] == f for r in rows)]
    if not present:
        raise ValueError("rows must hold measured models of the known families (pareto_runs.collect)")
    axis = widgets.ToggleButtons(options=[(label, key) for key, label in pareto.COSTS.items()], value=cost,
                                 description="cost", style={"button_width": "auto"})
    ticks = [widgets.Checkbox(value=True, description=family, indent=False,
                              layout=widgets.Layout(width="max-content", margin="0 16px 0 0")) for family in present]
    message = widgets.Label()
    picture = _picture()

    def redraw(_: object = None) -> None:
        chosen = [box.description for box in ticks if box.value]
        message.value = "" if chosen else NO_FAMILY
        picture.layout.display = None if chosen else "none"
        if chosen:
            picture.value = plots.to_png(pareto_view(rows, axis.value, chosen))

    axis.observe(redraw, names="value")
    for box in ticks:
        box.observe(redraw, names="value")
    redraw()
    families = widgets.HBox([widgets.Label("families"), *ticks], layout=widgets.Layout(flex_flow="row wrap"))
    return DescribedBox([axis, families, message, picture], explorer_summary("Pareto explorer"))
