"""Interactive explorers: thin ipywidgets wrappers over a compute function and a plot function."""
from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch
from IPython.display import display
from matplotlib.figure import Figure

from kdviz import architectures, data, distill, low_rank, pareto, plots, prune, quantize


def dataset_explorer(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], count: int = 8) -> widgets.interactive:
    """Browse a data set one class at a time (notebook 00): a class dropdown and a position slider."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count!r}")
    smallest_class = int(data.class_counts(labels, len(classes)).min())

    def show(label: int, start: int):
        pictures = data.class_examples(images, labels, label, start, count)
        display(plots.plot_images(pictures, columns=count,
                                  suptitle=f"{classes[label]}: images {start} to {start + len(pictures) - 1}"))

    return widgets.interactive(
        show,
        label=widgets.Dropdown(options=[(name, i) for i, name in enumerate(classes)], value=0, description="class"),
        start=widgets.IntSlider(value=0, min=0, max=max(smallest_class - count, 0), step=count,
                                description="first image", continuous_update=False),
    )


def convolution_view(in_channels: int, out_channels: int, kernel_size: int, size: int, squeeze: int) -> Figure:
    """Compute and draw one state of the convolution explorer: four layers mapping M to N channels (notebook 01)."""
    costs = architectures.compare_costs(in_channels, out_channels, kernel_size, size, squeeze)
    ratio = architectures.separable_ratio(out_channels, kernel_size)
    title = (f"M = {in_channels} -> N = {out_channels} channels, {kernel_size}x{kernel_size} kernel, "
             f"{size}x{size} map; separable / standard = 1/N + 1/Dk² = {ratio:.3f}")
    return plots.plot_convolution_costs(costs, title)


def convolution_explorer(in_channels: int = 32, out_channels: int = 64, kernel_size: int = 3, size: int = 14,
                         squeeze: int = 8) -> widgets.interactive:
    """Sliders for M, N, Dk, Df and the squeeze width: parameters and MACs of standard, depthwise-separable,
    1x1-bottleneck and fire-module layers, and the separable ratio (notebook 01)."""
    architectures.compare_costs(in_channels, out_channels, kernel_size, size, squeeze)  # names a bad argument
    if not (in_channels <= 512 and out_channels <= 512 and kernel_size <= 7 and size <= 112 and squeeze <= 256):
        raise ValueError("the explorer's ranges are in_channels, out_channels 1..512, kernel_size 1..7 (odd), "
                         f"size 1..112, squeeze 1..256; got {in_channels}, {out_channels}, {kernel_size}, "
                         f"{size}, {squeeze}")

    def show(in_channels: int, out_channels: int, kernel_size: int, size: int, squeeze: int) -> None:
        display(convolution_view(in_channels, out_channels, kernel_size, size, squeeze))

    def slider(value: int, low: int, high: int, description: str, step: int = 1) -> widgets.IntSlider:
        return widgets.IntSlider(value=value, min=low, max=high, step=step, description=description,
                                 continuous_update=False, style={"description_width": "initial"})

    return widgets.interactive(
        show,
        in_channels=slider(in_channels, 1, 512, "input channels M"),
        out_channels=slider(out_channels, 2, 512, "output channels N"),
        kernel_size=slider(kernel_size, 1, 7, "kernel size Dk", step=2),
        size=slider(size, 1, 112, "map size Df"),
        squeeze=slider(squeeze, 1, 256, "squeeze width"),
    )


def temperature_view(images: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                     classes: Sequence[str], index: int, T: float, log_scale: bool = True) -> Figure:
    """Compute and draw one state of the temperature explorer: the image and its soft targets at T (notebook 04)."""
    probabilities = distill.soft_targets(teacher_logits[index], T)
    bits = float(distill.entropy(probabilities))
    title = f"teacher's soft targets at T = {T:.3g} (entropy {bits:.2f} bits)"
    return plots.plot_class_probabilities(images[index], probabilities, classes, label=int(labels[index]),
                                          title=title, log_scale=log_scale)


def temperature_explorer(images: torch.Tensor, labels: torch.Tensor, teacher_logits: torch.Tensor,
                         classes: Sequence[str], T: float = 1.0, index: int | None = None) -> widgets.VBox:
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
    label = widgets.Dropdown(options=[(name, i) for i, name in enumerate(classes)], value=first, description="class")
    example = widgets.IntSlider(value=int((per_class[first] == index).nonzero()[0]), min=0,
                                max=max(len(per_class[first]) - 1, 0), description="example", continuous_update=False)
    temperature = widgets.FloatLogSlider(value=T, base=10, min=-0.3, max=1.7, step=0.01,  # 0.5 .. 50, 1 on the grid
                                         description="T", readout_format=".3g")
    scale = widgets.ToggleButtons(options=[("log scale", True), ("linear", False)], value=True)
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        members = per_class[label.value]
        if len(members) == 0:
            return
        example.max = len(members) - 1
        index = int(members[min(example.value, len(members) - 1)])
        picture.value = plots.to_png(temperature_view(images, labels, teacher_logits, classes, index,
                                                      temperature.value, scale.value))

    for control in (label, example, temperature, scale):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([label, example]), widgets.HBox([temperature, scale]), picture])


def loss_explorer(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                  T: float = 8.0, alpha: float = 0.9) -> widgets.VBox:
    """Drag T and alpha over a real batch: both loss terms and their gradient norms (notebook 04)."""
    distill.validate_temperature(T), distill.validate_alpha(alpha)  # before a slider silently clamps them
    distill.validate_batch(student_logits, teacher_logits, labels)
    temperature = widgets.FloatSlider(value=T, min=0.5, max=20.0, step=0.5, description="T")
    weight = widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="alpha")
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        parts = distill.loss_breakdown(student_logits, teacher_logits, labels, temperature.value, weight.value)
        picture.value = plots.to_png(plots.plot_loss_breakdown(parts))

    temperature.observe(redraw, names="value")
    weight.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([temperature, weight]), picture])


def sparsity_view(weights: torch.Tensor, curve: list[dict], sparsity: float) -> Figure:
    """Compute and draw one state of the sparsity explorer (notebook 02)."""
    return plots.plot_sparsity_state(weights, sparsity, prune.global_threshold(weights, sparsity), curve)


def sparsity_explorer(weights: torch.Tensor, curve: list[dict], sparsity: float = 0.5) -> widgets.VBox:
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
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        picture.value = plots.to_png(sparsity_view(weights, curve, slider.value))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, picture])


def bits_view(weights: torch.Tensor, bits: int, symmetric: bool = True, curve: list[dict] | None = None) -> Figure:
    """Compute and draw one state of the bit-depth explorer (notebook 03)."""
    params = quantize.choose_qparams(weights, bits, symmetric)
    approximation = quantize.round_trip(weights, params)
    kind = "symmetric" if symmetric else "asymmetric"
    return plots.plot_quantization_state(weights, quantize.levels(params), bits, quantize.error(weights, approximation),
                                         curve, title=f"{bits}-bit {kind} grid, per tensor")


def bits_explorer(weights: torch.Tensor, curve: list[dict] | None = None, bits: int = 4) -> widgets.VBox:
    """A bit-depth slider (8 down to 1) and a symmetric/asymmetric switch over one tensor of weights: the grid, the
    error, and the measured accuracy from a precomputed curve (rows with bits and accuracy) (notebook 03)."""
    quantize.validate_bits(bits)
    weights = weights.detach().flatten().cpu()
    depth = widgets.IntSlider(value=min(bits, 8), min=1, max=8, description="bits", continuous_update=False)
    scheme = widgets.ToggleButtons(options=[("symmetric", True), ("asymmetric", False)], value=True)
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        picture.value = plots.to_png(bits_view(weights, depth.value, scheme.value, curve))

    depth.observe(redraw, names="value")
    scheme.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([depth, scheme]), picture])


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


def rank_explorer(values: torch.Tensor, sweep: dict, finetuned: Sequence[dict], rank: int = 16) -> widgets.VBox:
    """A slider over the sweep's ranks: the spectrum cut at that rank, and the measured accuracy, factorized and
    fine-tuned, against the rank (notebook 01)."""
    ranks = [r["rank"] for r in sweep["ranks"]]
    if rank not in ranks:
        raise ValueError(f"rank must be one of the sweep's ranks {ranks}, got {rank!r}")
    slider = widgets.SelectionSlider(options=ranks, value=rank, description="rank", continuous_update=False)
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        picture.value = plots.to_png(rank_view(values, sweep, finetuned, slider.value))

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, picture])


def pareto_view(rows: Sequence[dict], cost: str = "bytes", families: Sequence[str] | None = None) -> Figure:
    """Compute and draw one state of the Pareto explorer: the chosen families' models and their front (notebook 05)."""
    shown = [r for r in rows if families is None or r["family"] in families]
    if not shown:
        raise ValueError(f"families must name at least one family of the rows, got {families!r}")
    return plots.plot_pareto(shown, cost)


def pareto_explorer(rows: Sequence[dict], cost: str = "bytes") -> widgets.VBox:
    """Pick the cost axis (bytes, latency at batch 1 or 256) and the families shown: the bubble chart and its front
    are redrawn from the measured rows (notebook 05)."""
    if cost not in pareto.COSTS:
        raise ValueError(f"cost must be one of {list(pareto.COSTS)}, got {cost!r}")
    present = [f for f in pareto.FAMILIES if any(r["family"] == f for r in rows)]
    if not present:
        raise ValueError("rows must hold measured models of the known families (pareto_runs.collect)")
    axis = widgets.ToggleButtons(options=[(label, key) for key, label in pareto.COSTS.items()], value=cost)
    chosen = widgets.SelectMultiple(options=present, value=tuple(present), description="families", rows=len(present))
    picture = widgets.Image(format="png")

    def redraw(_: object = None) -> None:
        if chosen.value:
            picture.value = plots.to_png(pareto_view(rows, axis.value, chosen.value))

    axis.observe(redraw, names="value")
    chosen.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([axis, chosen]), picture])
