"""Every figure of the workbook, in notebook order; each function returns a matplotlib Figure made without pyplot
(no figure leaks)."""
from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import numpy as np
import pandas as pd
import PIL.Image
import torch
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from kdviz.distill import LossBreakdown, entropy, soft_targets
from kdviz.landscape import GROUPS, group
from kdviz.pareto import COSTS, FAMILIES, pareto_front
from kdviz.train import History

# ==============================================================================================================
# Shared by every notebook: style, helpers, pictures for widgets
# ==============================================================================================================

# Okabe & Ito's palette, safe for the common colour-vision deficiencies
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")


TRAIN_COLOR, TEST_COLOR = OKABE_ITO[0], OKABE_ITO[1]


def use_style() -> None:
    """Large fonts for projectors, the Okabe-Ito colour cycle, and inline figures in Jupyter."""
    matplotlib.rcParams.update({
        "font.size": 13, "axes.titlesize": 14, "axes.labelsize": 13, "legend.fontsize": 11,
        "xtick.labelsize": 11, "ytick.labelsize": 11, "figure.dpi": 100, "savefig.dpi": 100,
        "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False, "axes.spines.right": False,
        "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
        "image.cmap": "gray_r",
    })
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and "IPKernelApp" in shell.config:
        shell.run_line_magic("matplotlib", "inline")  # so a returned Figure is shown as a picture


def _plain_log_ticks(ax: Axes, which: str = "xy") -> None:
    """Label log axes 1, 2, 5, 10, 20, 50... in plain numbers instead of 2 x 10^0 (readable when projected)."""
    def minor_for(axis: Axis) -> FuncFormatter:
        def minor(value: float, _: int) -> str:
            low, high = sorted(abs(v) for v in axis.get_view_interval())
            if low > 0 and high / low > 300:  # over two and a half decades, 2 and 5 labels would collide
                return ""
            mantissa = value / 10 ** np.floor(np.log10(value))
            return f"{value:g}" if round(mantissa) in (2, 5) and abs(mantissa - round(mantissa)) < 1e-6 else ""
        return minor

    for axis in ([ax.xaxis] if "x" in which else []) + ([ax.yaxis] if "y" in which else []):
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(FuncFormatter(minor_for(axis)))


def _figure(width: float, height: float, **kwargs) -> Figure:
    return Figure(figsize=(width, height), layout="constrained", **kwargs)


def _as_numpy(images: torch.Tensor | np.ndarray) -> np.ndarray:
    return images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)


def _canvas(fig: Figure) -> FigureCanvasAgg:
    return fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)


def _png(canvas: FigureCanvasAgg) -> bytes:
    """What the canvas shows, as PNG bytes, compressed lightly: a slider's picture is sent once and soon replaced."""
    width, height = canvas.get_width_height(physical=True)
    picture = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, for an ipywidgets.Image that a control updates in place."""
    canvas = _canvas(fig)
    canvas.draw()
    return _png(canvas)


class Redrawn:
    """A figure that a slider redraws: its ``update`` method changes the drawn artists in place, and :meth:`png`
    draws only the artists that move (:meth:`moving`) over a kept picture of the rest (blitting). The first
    :meth:`png`, and the first after :meth:`redraw_all`, draws the whole figure and keeps it without them."""

    figure: Figure
    _background: object | None = None

    def moving(self) -> list[Artist]:
        """The artists an update changes; everything else is drawn once."""
        raise NotImplementedError

    def redraw_all(self) -> None:
        """Draw the whole figure at the next :meth:`png` (after a change outside :meth:`moving`)."""
        self._background = None

    def png(self) -> bytes:
        """The figure as it is now, as PNG bytes."""
        canvas, artists = _canvas(self.figure), self.moving()
        if self._background is None:
            for artist in artists:
                artist.set_animated(True)  # left out of a full draw
            canvas.draw()
            for artist in artists:
                artist.set_animated(False)  # a normal figure again (to_png, savefig)
            self._background = canvas.copy_from_bbox(self.figure.bbox)
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in sorted(artists, key=lambda a: a.get_zorder()):
            artist.draw(renderer)
        return _png(canvas)


def _label_without_overlap(ax: Axes, points: Sequence[tuple[float, float]], labels: Sequence[str],
                           bold: Sequence[bool]) -> None:
    """Annotate each point, trying offsets around it in turn until the label overlaps no earlier label."""
    canvas = ax.figure.canvas if hasattr(ax.figure.canvas, "get_renderer") else FigureCanvasAgg(ax.figure)
    ax.figure.draw_without_rendering()  # settle the layout, so the data-to-pixel transform is final
    renderer = canvas.get_renderer()
    offsets = ((8, 6, "left"), (8, -16, "left"), (-8, 6, "right"), (-8, -16, "right"), (8, 18, "left"),
               (-8, 18, "right"), (8, -28, "left"), (-8, -28, "right"))
    placed = []
    for (x, y), label, strong in sorted(zip(points, labels, bold), key=lambda item: -item[2]):  # front first
        for dx, dy, align in offsets:
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", ha=align,
                               fontsize=11 if strong else 9, fontweight="bold" if strong else "normal")
            box = text.get_window_extent(renderer).expanded(1.05, 1.15)
            if not any(box.overlaps(other) for other in placed):
                break
            text.remove()
        else:  # no free place: keep the first offset
            text = ax.annotate(label, (x, y), xytext=offsets[0][:2], textcoords="offset points",
                               fontsize=11 if strong else 9, fontweight="bold" if strong else "normal")
            box = text.get_window_extent(renderer)
        placed.append(box)


def _accuracy_curves(curves: dict[str, list[dict]], key: str, scale: float, xlabel: str, baseline: float | None,
                     baseline_label: str, title: str, connect: bool = True, ylabel: str = "test accuracy (%)") -> Figure:
    """Accuracy against ``key`` (times ``scale``), one line per method (points only, unless ``connect``), with
    an optional baseline."""
    if not curves:
        raise ValueError("curves must name at least one method")
    fig = _figure(9, 5)
    ax = fig.subplots()
    for i, (name, rows) in enumerate(curves.items()):
        ax.plot([scale * r[key] for r in rows], [100 * r["accuracy"] for r in rows], "os^Dv"[i % 5] + ("-" if connect else ""),
                color=OKABE_ITO[i % len(OKABE_ITO)], label=name, markersize=9)
    if baseline is not None:
        ax.axhline(100 * baseline, color="black", linestyle=":", label=f"{baseline_label} ({100 * baseline:.2f} %)")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return fig


# ==============================================================================================================
# 00 · Why compress: the data, the teacher, what a model costs
# ==============================================================================================================

def plot_images(images: torch.Tensor | np.ndarray, titles: Sequence[str] | None = None, columns: int = 8, size: float = 1.6,
                suptitle: str | None = None) -> Figure:
    """A grid of greyscale images (N, 28, 28), optionally titled."""
    pictures = _as_numpy(images)
    if pictures.ndim != 3 or len(pictures) == 0:
        raise ValueError(f"images must be a non-empty (N, H, W) array, got shape {pictures.shape}")
    rows = -(-len(pictures) // columns)
    columns = min(columns, len(pictures))
    fig = _figure(size * columns, size * rows + (0.4 if suptitle else 0))
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < len(pictures):
            ax.imshow(pictures[i], cmap="gray_r", vmin=0, vmax=255 if pictures.dtype == np.uint8 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=11)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_class_examples(images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], per_class: int = 4) -> Figure:
    """``per_class`` examples of every class, one column a class, named on top."""
    pictures, targets = _as_numpy(images), _as_numpy(labels)
    fig = _figure(1.45 * len(classes), 1.45 * per_class + 0.4)
    axes = fig.subplots(per_class, len(classes), squeeze=False)
    for c, name in enumerate(classes):
        chosen = np.flatnonzero(targets == c)[:per_class]
        for r in range(per_class):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(chosen):
                ax.imshow(pictures[chosen[r]], cmap="gray_r")
        axes[0, c].set_title(name, fontsize=11)
    return fig


def plot_class_balance(counts: dict[str, torch.Tensor], classes: Sequence[str]) -> Figure:
    """Examples per class for each split (a grouped horizontal bar chart)."""
    fig = _figure(9, 5)
    ax = fig.subplots()
    positions = np.arange(len(classes))
    height = 0.8 / len(counts)
    for i, (split, values) in enumerate(counts.items()):
        ax.barh(positions + i * height, _as_numpy(values), height=height, label=split, color=OKABE_ITO[i])
    ax.set_yticks(positions + height * (len(counts) - 1) / 2, classes)
    ax.invert_yaxis()
    ax.set_xlabel("images")
    ax.set_title("Images per class")
    ax.legend(loc="lower right")
    return fig


def plot_history(history: History, title: str = "Training") -> Figure:
    """Loss and accuracy per epoch, train against test."""
    records = history.records
    if not records:
        raise ValueError("history has no epochs to plot")
    epochs = [r["epoch"] for r in records]
    fig = _figure(11, 4.2)
    loss_ax, accuracy_ax = fig.subplots(1, 2)
    for key, color, label in (("train", TRAIN_COLOR, "train (augmented, dropout on)"), ("test", TEST_COLOR, "test")):
        if f"{key}_loss" in records[0]:
            loss_ax.plot(epochs, [r[f"{key}_loss"] for r in records], "o-", color=color, label=label)
            accuracy_ax.plot(epochs, [100 * r[f"{key}_accuracy"] for r in records], "o-", color=color, label=label)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="Loss")
    accuracy_ax.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy")
    accuracy_ax.legend(loc="lower right")
    fig.suptitle(title)
    return fig


def plot_landscape(records: list[dict], highlight: Sequence[str] = (
        "alexnet", "vgg16", "googlenet", "resnet50", "resnet152", "densenet121", "squeezenet1_0",
        "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "efficientnet_b7", "vit_h_14",
        "convnext_large", "inception_v3", "shufflenet_v2_x1_0")) -> Figure:
    """Canziani-style bubble chart: ImageNet top-1 against GMACs (log), bubble area by parameters; models
    pre-trained on extra data (SWAG) drawn hatched."""
    fig = _figure(12, 7)
    ax = fig.subplots()
    group_names = list(GROUPS) + ["other"]
    for i, group_name in enumerate(group_names):
        for extra in (False, True):
            members = [r for r in records if group(r["family"]) == group_name and r.get("extra_data", False) == extra]
            if not members:
                continue
            ax.scatter([r["gmacs"] for r in members], [r["top1"] for r in members],
                       s=[r["params"] / 1e6 * 4 for r in members], color=OKABE_ITO[i % len(OKABE_ITO)],
                       alpha=0.6, edgecolors="black", linewidths=0.5, hatch="////" if extra else None,
                       label=group_name if not extra else None)
    for r in records:
        if r["name"] in highlight:
            ax.annotate(r["name"], (r["gmacs"], r["top1"]), xytext=(4, 4), textcoords="offset points", fontsize=10)
    ax.set_xscale("log")
    ax.set(xlabel="GMACs per image (log scale; one MAC = two FLOPs)", ylabel="ImageNet top-1 accuracy (%)",
           title="ImageNet classifiers: compute spans four orders of magnitude; bubble area = parameters")
    colour_legend = ax.legend(loc="lower right", title="family")
    for handle in colour_legend.legend_handles:
        handle.set_sizes([80])
    ax.add_artist(colour_legend)
    for millions in (5, 50, 500):
        ax.scatter([], [], s=millions * 4, color="white", edgecolors="black", label=f"{millions}M params")
    if any(r.get("extra_data", False) for r in records):
        ax.scatter([], [], s=80, color="white", edgecolors="black", hatch="////",
                   label="hatched: pre-trained on 3.6B extra images (SWAG)")
    handles, labels = ax.get_legend_handles_labels()
    size_items = [(handle, label) for handle, label in zip(handles, labels) if label.endswith(("params", "(SWAG)"))]
    ax.legend(*zip(*size_items), loc="upper left", labelspacing=1.8, borderpad=1.2, title="size")
    return fig


_COMPARISON_COLUMNS = (("bytes", "size (MB)", 1e-6, True), ("MACs", "MMACs per image", 1e-6, True),
                       ("ms @ batch 1", "ms @ batch 1", 1, True), ("ms @ batch 256", "ms @ batch 256", 1, True),
                       ("accuracy", "test accuracy (%)", 100, False))


def plot_comparison(table: pd.DataFrame) -> Figure:
    """The :func:`kdviz.measure.summary` table, a panel per measure: size, MACs and latency as points on a log
    axis where the values span more than a factor of ten (bars from zero otherwise: a bar's length means nothing
    on a log axis), with a black line over the range of repeated latency measurements where the table has it, and
    accuracy as points on an axis zoomed to the data, which its title says (with error bars where the table has
    an "accuracy sd" column: the spread over seeds)."""
    columns = [c for c in _COMPARISON_COLUMNS if c[0] in table.columns and table[c[0]].notna().any()]
    if table.empty or not columns:
        raise ValueError("table must have at least one model and one of the columns " +
                         ", ".join(c[0] for c in _COMPARISON_COLUMNS))
    names = list(table.index)
    fig = _figure(3.2 * len(columns), 0.55 * len(names) + 1.8)
    axes = np.atleast_1d(fig.subplots(1, len(columns), sharey=True))
    colors = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(names))]
    for ax, (column, label, scale, logarithmic) in zip(axes, columns):
        values = table[column].astype(float).to_numpy() * scale
        spread = f"{column} sd" in table.columns and column == "accuracy"
        errors = np.nan_to_num(table[f"{column} sd"].astype(float).to_numpy() * scale) if spread else None
        finite = values[np.isfinite(values) & (values > 0)]
        on_log_axis = logarithmic and len(finite) and finite.max() > 10 * finite.min()  # else linear, from 0
        label_at = values.copy()
        if on_log_axis:
            shown = np.isfinite(values) & (values > 0)
            ax.scatter(values[shown], np.arange(len(names))[shown], color=np.array(colors)[shown], s=90, zorder=3)
            if {f"{column} low", f"{column} high"} <= set(table.columns):  # the range of repeated measurements
                low, high = (table[f"{column} {end}"].astype(float).to_numpy() * scale for end in ("low", "high"))
                ax.hlines(np.arange(len(names))[shown], low[shown], high[shown], color="black", linewidth=2, zorder=2)
                label_at = np.fmax(values, high)
            ax.set_yticks(range(len(names)), names)
            ax.set_xscale("log")
            _plain_log_ticks(ax, "x")
            ax.grid(axis="y", alpha=0.3)
        elif column == "accuracy":  # points on an axis zoomed to the data: differences of a point stay visible
            shown = np.isfinite(values)
            ax.errorbar(values[shown], np.arange(len(names))[shown], xerr=errors[shown] if spread else None,
                        fmt="none", ecolor="black", capsize=4, zorder=2)
            ax.scatter(values[shown], np.arange(len(names))[shown], color=np.array(colors)[shown], s=90, zorder=3)
            ax.set_yticks(range(len(names)), names)
            ax.grid(axis="y", alpha=0.3)
            if shown.any():
                low = float(np.min(values[shown] - (errors[shown] if spread else 0)))
                ax.set_xlim(max(0.0, low - 2), min(100.0, float(np.max(values[shown])) + 3))
            label = f"{label}, zoomed"
        else:
            ax.barh(names, np.nan_to_num(values), color=colors, xerr=errors, capsize=4 if spread else 0)
        for y, value in enumerate(values):
            if np.isfinite(value):
                text = f"{value:.3g}" + (f" ± {errors[y]:.2g}" if spread and errors[y] else "")
                ax.annotate(text, (label_at[y] + (errors[y] if spread else 0), y), xytext=(6 if on_log_axis else 3, 0),
                            textcoords="offset points", va="center", fontsize=10)
        ax.set_title(label)
        if column != "accuracy":
            ax.margins(x=0.3)
    axes[0].invert_yaxis()
    return fig


def plot_layer_costs(costs: list[dict], title: str = "Where the parameters and the MACs are") -> Figure:
    """Each layer's share of the parameters and of the MACs, side by side (from :func:`kdviz.measure.layer_costs`)."""
    if not costs:
        raise ValueError("costs must list at least one layer")
    names = [c["layer"] for c in costs]
    fig = _figure(11, 0.45 * len(names) + 1.8)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key, color in zip(axes, ("parameters", "MACs"), (OKABE_ITO[0], OKABE_ITO[1])):
        values = np.array([c[key] for c in costs], dtype=float)
        shares = 100 * values / values.sum()
        ax.barh(names, shares, color=color)
        for y, (share, value) in enumerate(zip(shares, values)):
            ax.annotate(f"{share:.0f}% ({value:,.0f})", (share, y), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=10)
        ax.set_xlabel(f"share of the {key} (%)")
        ax.set_xlim(0, 135)
    axes[0].invert_yaxis()
    fig.suptitle(title)
    return fig


# ==============================================================================================================
# 01 · Efficient architectures
# ==============================================================================================================

def plot_convolution_costs(costs: dict[str, dict[str, int]], title: str = "") -> Figure:
    """Parameters and MACs of alternative layers (from :func:`kdviz.architectures.compare_costs`) as points on log
    axes, each annotated with how many times cheaper than the first (standard) one it is."""
    if not costs:
        raise ValueError("costs must name at least one layer")
    names = list(costs)
    fig = Figure(figsize=(12, 3.6))  # fixed layout: redrawn by sliders
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.17, top=0.8, wspace=0.35)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, key in zip(axes, ("parameters", "MACs")):
        values = [costs[name][key] for name in names]
        ax.scatter(values, range(len(names)), color=[OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(names))],
                   s=110, zorder=3)
        ax.set_yticks(range(len(names)), names)
        ax.grid(axis="y", alpha=0.3)
        for y, value in enumerate(values):
            ratio = values[0] / value
            note = f"{value:,}" + ("" if y == 0 else f"  ({ratio:.1f}x fewer)" if ratio >= 1 else f"  ({1 / ratio:.1f}x more)")
            ax.annotate(note, (value, y), xytext=(8, 0), textcoords="offset points", va="center", fontsize=11)
        ax.set_xscale("log")
        ax.set_xlim(min(values) / 2, max(values) * 12)
        ax.set_xlabel(f"{key} (log scale)")
    axes[0].invert_yaxis()
    fig.suptitle(title)
    return fig


def plot_latency_against_macs(rows: list[dict], title: str = "Fewer MACs is not always faster") -> Figure:
    """Measured latency against MACs (left) and achieved GMAC/s against MACs per byte moved (right), log scales,
    from :func:`kdviz.measure.compare_layers` rows; an optional "group" key picks the marker."""
    if not rows:
        raise ValueError("rows must hold at least one measured layer")
    names = list(dict.fromkeys(r["layer"] for r in rows))
    groups = list(dict.fromkeys(r.get("group", "") for r in rows))
    markers = "osD^vP*X"
    fig = _figure(13, 5.2)
    left, right = fig.subplots(1, 2)
    for row in rows:
        color = OKABE_ITO[names.index(row["layer"]) % len(OKABE_ITO)]
        marker = markers[groups.index(row.get("group", "")) % len(markers)]
        left.scatter(row["MACs"], row["ms"], color=color, marker=marker, s=90, edgecolors="black", zorder=3)
        if "MACs per byte" in row:
            right.scatter(row["MACs per byte"], row["GMAC/s"], color=color, marker=marker, s=90,
                          edgecolors="black", zorder=3)
    for i, name in enumerate(names):
        left.scatter([], [], color=OKABE_ITO[i % len(OKABE_ITO)], s=90, edgecolors="black", label=name)
    for j, group_name in enumerate(groups):
        if group_name:
            left.scatter([], [], color="white", marker=markers[j % len(markers)], s=90, edgecolors="black",
                         label=group_name)
    left.set(xscale="log", yscale="log", xlabel="MACs (log scale)", ylabel="measured latency (ms, log scale)",
             title="time against work")
    left.legend(fontsize=10, loc="upper left")
    right.set(xscale="log", yscale="log", xlabel="MACs per byte moved (log scale)",
              ylabel="achieved GMAC/s (log scale)", title="speed against work per byte moved")
    _plain_log_ticks(left, "y")
    _plain_log_ticks(right)
    fig.suptitle(title)
    return fig


# ==============================================================================================================
# 02 · Pruning
# ==============================================================================================================

def plot_sparsity_curves(curves: dict[str, list[dict]], baseline: float | None = None,
                         title: str = "One-shot pruning: accuracy against sparsity") -> Figure:
    """Test accuracy against the share of weights removed, one line per method (rows with sparsity, accuracy)."""
    fig = _accuracy_curves(curves, "sparsity", 100, "weights removed (%)", baseline, "unpruned", title)
    ax = fig.axes[0]
    if baseline is not None:
        ax.axhline(100 * baseline - 1, color="grey", linestyle="--", linewidth=1, label="1 point below")
    ax.legend(loc="lower left")
    return fig


class SparsityState(Redrawn):
    """One state of the sparsity explorer (notebook 02): the weight histogram with the pruned band, and the measured
    accuracy curve with the chosen sparsity marked. The histogram is counted once; :meth:`update` moves the band and
    the marker in place, so a slider redraws only what changed."""

    def __init__(self, weights: torch.Tensor, curve: list[dict]) -> None:
        values = _as_numpy(weights).ravel()
        self.figure = fig = Figure(figsize=(12, 4.2))  # fixed layout: redrawn by a slider
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.84, wspace=0.25)
        self.hist_ax, curve_ax = fig.subplots(1, 2)
        limit = float(np.quantile(np.abs(values), 0.999))
        counts, edges = np.histogram(np.clip(values, -limit, limit), bins=np.linspace(-limit, limit, 121))
        self.centres = (edges[:-1] + edges[1:]) / 2
        self.counts = np.where(counts > 0, counts, np.nan).astype(float)  # a step outline: no bars on a log axis
        (self.kept,) = self.hist_ax.plot(self.centres, self.counts, drawstyle="steps-mid", color=OKABE_ITO[0],
                                         label="kept")
        (self.removed,) = self.hist_ax.plot(self.centres, np.full_like(self.counts, np.nan), drawstyle="steps-mid",
                                            color=OKABE_ITO[5], lw=2, label="removed")
        self.hist_ax.set_yscale("log")
        self.hist_ax.set(xlabel="weight value", ylabel="weights (log scale)")
        self.hist_ax.legend(loc="upper right")
        self.xs, self.ys = [100 * r["sparsity"] for r in curve], [100 * r["accuracy"] for r in curve]
        curve_ax.plot(self.xs, self.ys, "o-", color=OKABE_ITO[0])
        (self.marker,) = curve_ax.plot([], [], "s", color=OKABE_ITO[5], markersize=12)
        curve_ax.set(xlabel="weights removed (%)", ylabel="test accuracy (%)", xlim=(-2, 100),
                     title="measured, one-shot (marker interpolated)")

    def moving(self) -> list[Artist]:
        return [self.kept, self.removed, self.hist_ax.title, self.hist_ax.get_legend(), self.marker,
                self.figure._suptitle]

    def update(self, sparsity: float, threshold: float) -> SparsityState:
        """Show the weights below ``threshold`` as removed, and the accuracy at ``sparsity`` on the curve."""
        pruned = np.abs(self.centres) < threshold
        self.kept.set_ydata(np.where(pruned, np.nan, self.counts))
        self.removed.set_ydata(np.where(pruned, self.counts, np.nan))
        self.hist_ax.set_title(f"|w| < {threshold:.3g} removed")
        accuracy = float(np.interp(100 * sparsity, self.xs, self.ys))
        self.marker.set_data([100 * sparsity], [accuracy])
        self.figure.suptitle(f"Global magnitude pruning at {100 * sparsity:.0f} %: about {accuracy:.1f} % accuracy")
        return self


def plot_sparsity_state(weights: torch.Tensor, sparsity: float, threshold: float, curve: list[dict]) -> Figure:
    """One state of the sparsity explorer, as a figure of its own (see :class:`SparsityState`)."""
    return SparsityState(weights, curve).update(sparsity, threshold).figure


def plot_diagonal_estimates(exact: dict[str, torch.Tensor], estimates: dict) -> Figure:
    """Each estimate of the Hessian diagonal against the exact one, entry by entry (symmetric-log axes, so the
    negative estimates show)."""
    target = torch.cat([t.flatten() for t in exact.values()]).numpy()
    fig = _figure(4.2 * len(estimates), 4.4)
    axes = np.atleast_1d(fig.subplots(1, len(estimates), sharey=True))
    scale = float(np.quantile(np.abs(target[target != 0]), 0.05)) if np.any(target != 0) else 1e-6
    for ax, (name, estimate) in zip(axes, estimates.items()):
        values = torch.cat([t.flatten() for t in estimate.values()]).numpy()
        negative = values < 0
        ax.scatter(target[~negative], values[~negative], s=8, color=OKABE_ITO[0], alpha=0.6)
        ax.scatter(target[negative], values[negative], s=12, color=OKABE_ITO[5], label=f"negative: {negative.sum()}")
        top = max(np.abs(target).max(), np.abs(values).max())
        ax.plot([0, top], [0, top], color="black", linewidth=1)
        ax.set_xscale("symlog", linthresh=scale)
        ax.set_yscale("symlog", linthresh=scale)
        correlation = np.corrcoef(target, values)[0, 1]
        ax.set(title=f"{name}\ncorrelation {correlation:.3f}", xlabel="exact h_kk")
        if negative.any():
            ax.legend(loc="upper left")
    axes[0].set_ylabel("estimated h_kk")
    fig.suptitle("The Hessian diagonal of a tiny net: exact against estimates")
    return fig


def plot_hutchinson_convergence(rows: list[dict]) -> Figure:
    """Hutchinson's relative error and share of negative entries against the number of probes (log x)."""
    fig = _figure(10, 4.2)
    error_ax, negative_ax = fig.subplots(1, 2)
    probes = [r["probes"] for r in rows]
    error_ax.plot(probes, [r["relative_error"] for r in rows], "o-", color=OKABE_ITO[0])
    reference = rows[0]["relative_error"] * np.sqrt(probes[0] / np.array(probes))
    error_ax.plot(probes, reference, ":", color="black", label="1 / sqrt(probes)")
    error_ax.set(xscale="log", yscale="log", xlabel="probes (log scale)", ylabel="relative error (log scale)",
                 title="error against the exact diagonal")
    error_ax.legend()
    negative_ax.plot(probes, [100 * r["negative"] for r in rows], "s-", color=OKABE_ITO[5])
    negative_ax.set(xscale="log", xlabel="probes (log scale)", ylabel="negative estimates (%)",
                    title="curvatures estimated below zero")
    for ax in (error_ax, negative_ax):
        _plain_log_ticks(ax, "x")
    return fig


def plot_loss_prediction(results: dict[str, list[dict]], title: str = "Predicted against actual loss increase") -> Figure:
    """OBD's Fig. 1b: the predicted (sum of saliencies) and the measured training-loss increase against the share of
    weights deleted, for each deletion order."""
    fig = _figure(9, 5)
    ax = fig.subplots()
    for i, (order, rows) in enumerate(results.items()):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        fractions = [100 * r["fraction"] for r in rows]
        ax.plot(fractions, [r["actual"] for r in rows], "o-", color=color, label=f"{order} order: measured")
        ax.plot(fractions, [r["predicted"] for r in rows], "--", color=color, label=f"{order} order: OBD's prediction")
    largest = max((abs(r[key]) for rows in results.values() for r in rows for key in ("actual", "predicted")),
                  default=1.0)
    ax.set_yscale("symlog", linthresh=max(largest, 1e-12) * 1e-4)  # four decades of log, linear near 0: dips show
    ax.set(xlabel="weights deleted (%)", ylabel="training-loss increase (symmetric log)", title=title)
    ax.legend(loc="lower right")
    return fig


def plot_sensitivity(curves: dict, title: str = "Sensitivity: one layer pruned at a time") -> Figure:
    """Accuracy when only one layer is pruned, against that layer's sparsity (one line per layer)."""
    sparsities = [100 * s for s in curves["sparsities"]]
    layers = {name: values for name, values in curves.items() if name != "sparsities"}
    fig = _figure(9, 5)
    ax = fig.subplots()
    for i, (name, values) in enumerate(layers.items()):
        ax.plot(sparsities, [100 * v for v in values], "os^Dv*"[i % 6] + "-", color=OKABE_ITO[i % len(OKABE_ITO)],
                label=name)
    ax.set(xlabel="weights removed from this layer only (%)", ylabel="test accuracy (%)", title=title)
    ax.legend(loc="lower left", fontsize=10)
    return fig


def plot_iterative_pruning(runs: dict[str, list[dict]], baseline: float) -> Figure:
    """Iterative pruning: accuracy right after each pruning step and after its fine-tuning, per method."""
    fig = _figure(9, 5)
    ax = fig.subplots()
    for i, (name, steps) in enumerate(runs.items()):
        color = OKABE_ITO[i % len(OKABE_ITO)]
        xs = [100 * s["sparsity"] for s in steps]
        ax.plot(xs, [100 * s["accuracy"] for s in steps], "o-", color=color, label=f"{name}: after fine-tuning")
        ax.plot(xs, [100 * s["accuracy_pruned"] for s in steps], "x:", color=color, label=f"{name}: just pruned")
    ax.axhline(100 * baseline, color="black", linestyle=":", label=f"unpruned ({100 * baseline:.2f} %)")
    ax.axhline(100 * baseline - 1, color="grey", linestyle="--", linewidth=1, label="1 point below")
    ax.set(xlabel="weights removed (%)", ylabel="test accuracy (%)", title="Prune, fine-tune, repeat")
    ax.legend(loc="lower left", fontsize=10)
    return fig


# ==============================================================================================================
# 03 · Quantization
# ==============================================================================================================

MAX_LEVELS_DRAWN = 64


class QuantizationState(Redrawn):
    """One state of the bit-depth explorer (notebook 03): the weights' histogram with the grid's levels drawn over
    it, the error, and (if given) the measured accuracy against bits with this depth marked. The histogram and the
    curve are drawn once; :meth:`update` replaces the levels, the titles and the marker in place."""

    def __init__(self, weights: torch.Tensor, curve: list[dict] | None = None) -> None:
        self.figure = fig = Figure(figsize=(12, 4.2))  # fixed layout: redrawn by a slider
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.82, wspace=0.25)
        self.hist_ax, curve_ax = fig.subplots(1, 2)
        self.hist_ax.hist(_as_numpy(weights).ravel(), bins=150, color=OKABE_ITO[0], log=True)
        self.hist_ax.set(xlabel="weight value", ylabel="weights (log scale)")
        # vertical lines from the bottom to the top of the axes at each level, added without changing the limits
        self.levels = LineCollection([], colors=OKABE_ITO[5], linewidths=1, alpha=0.8,
                                     transform=self.hist_ax.get_xaxis_transform())
        self.hist_ax.add_collection(self.levels, autolim=False)
        self.curve = {r["bits"]: 100 * r["accuracy"] for r in curve or []}
        if self.curve:
            curve_ax.plot(list(self.curve), list(self.curve.values()), "o-", color=OKABE_ITO[0])
            curve_ax.set(xlabel="bits per weight", ylabel="test accuracy (%)",
                         title="measured: all weights at this depth")
            curve_ax.invert_xaxis()
        else:
            curve_ax.axis("off")
        (self.marker,) = curve_ax.plot([], [], "s", color=OKABE_ITO[5], markersize=12)
        self.curve_ax = curve_ax

    def moving(self) -> list[Artist]:
        return [self.levels, self.hist_ax.title, self.marker, self.curve_ax.title, self.figure._suptitle]

    def update(self, levels: torch.Tensor, bits: int, error: dict[str, float], title: str = "") -> QuantizationState:
        """Draw the grid's ``levels`` (up to 64 of them), its ``error`` (mse, sqnr_db) and the marker at ``bits``."""
        grid = _as_numpy(levels).ravel()
        drawn = grid if len(grid) <= MAX_LEVELS_DRAWN else []
        self.levels.set_segments([[(level, 0), (level, 1)] for level in drawn])
        shown = f"{len(grid)} levels" + ("" if len(grid) <= MAX_LEVELS_DRAWN else " (too many to draw)")
        self.hist_ax.set_title(f"{shown}: MSE {error['mse']:.2e}, SQNR {error['sqnr_db']:.1f} dB")
        here = self.curve.get(bits)
        self.marker.set_data([bits] if here is not None else [], [here] if here is not None else [])
        if self.curve:
            self.curve_ax.set_title("measured: all weights at this depth" if here is not None
                                    else f"measured: all weights at this depth ({bits} bits not measured)")
        self.figure.suptitle(title or f"{bits}-bit weights")
        return self


def plot_quantization_state(weights: torch.Tensor, levels: torch.Tensor, bits: int, error: dict[str, float],
                            curve: list[dict] | None = None, title: str = "") -> Figure:
    """One state of the bit-depth explorer, as a figure of its own (see :class:`QuantizationState`)."""
    return QuantizationState(weights, curve).update(levels, bits, error, title).figure


def plot_bits_curves(curves: dict[str, list[dict]], baseline: float | None = None,
                     title: str = "Accuracy against bit depth", connect: bool = True,
                     ylabel: str = "test accuracy (%)") -> Figure:
    """Accuracy against bits (8 down to 1), one line per method (rows with bits and accuracy), ticks at the
    measured depths only; ``connect=False`` draws the measured points alone (depths too far apart for a line)."""
    fig = _accuracy_curves(curves, "bits", 1, "bits", baseline, "float32", title, connect, ylabel)
    fig.axes[0].set_xticks(sorted({r["bits"] for rows in curves.values() for r in rows}))
    fig.axes[0].invert_xaxis()
    fig.axes[0].legend(loc="lower left")
    return fig


def plot_activation_functions(functions: dict, low: float = -6.0, high: float = 8.0) -> Figure:
    """Each activation function over [low, high], with its output range over that interval in the legend."""
    x = torch.linspace(low, high, 701)
    fig = _figure(10, 5.5)
    ax = fig.subplots()
    styles = ["-", "--", "-.", ":"]
    for i, (name, function) in enumerate(functions.items()):
        y = function(x)
        ax.plot(x.numpy(), y.numpy(), styles[i % 4], color=OKABE_ITO[i % len(OKABE_ITO)], linewidth=2.5,
                label=f"{name}: [{float(y.min()):.2g}, {float(y.max()):.2g}]")
    ax.set(xlabel="input", ylabel="output", title=f"Activation functions and their output range on [{low:g}, {high:g}]",
           ylim=(-2, 8))
    ax.legend(loc="upper left", fontsize=10)
    return fig


def plot_activation_losses(tables: dict[str, pd.DataFrame], title: str = "Accuracy lost by quantizing activations"
                           ) -> Figure:
    """Points of accuracy lost per activation function at each bit depth, bars with the seed spread (one standard
    deviation), one panel per calibration method (tables of ``quantization_runs.points_lost``), on one scale."""
    if not tables:
        raise ValueError("tables must hold at least one calibration method's table")
    fig = _figure(6.5 * len(tables), 5.2)
    axes = fig.subplots(1, len(tables), sharey=True, squeeze=False)[0]
    for ax, (method, table) in zip(axes, tables.items()):
        depths = [column for column in table.columns if column.endswith("bits")]
        x, width = np.arange(len(table)), 0.8 / len(depths)
        for i, depth in enumerate(depths):
            ax.bar(x + (i - (len(depths) - 1) / 2) * width, table[depth], width, yerr=table[f"{depth} sd"],
                   capsize=3, color=OKABE_ITO[i % len(OKABE_ITO)], label=depth, hatch=["", "//", ".."][i % 3],
                   edgecolor="black", linewidth=0.5)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, [name.replace(" (2 pieces)", "") for name in table.index], rotation=30, ha="right")
        ax.set_title(f"calibration: {method}", fontsize=12)
    axes[0].set_ylabel("points of test accuracy lost")
    axes[0].legend(title="activations at")
    fig.suptitle(title)
    return fig


def plot_low_rank(values: torch.Tensor, sweep: dict, finetuned: Sequence[dict], rank: int, title: str) -> Figure:
    """Left: a layer's singular values (log scale), those kept at ``rank`` shaded. Right: the model's test accuracy
    against the rank, factorized as is and fine-tuned, beside the unfactorized model's; ``rank`` marked."""
    values = torch.as_tensor(values, dtype=torch.float64)
    fig = _figure(13, 4.8)
    left, right = fig.subplots(1, 2)
    index = np.arange(1, len(values) + 1)
    left.semilogy(index, values.numpy(), color=OKABE_ITO[0], linewidth=2)
    left.fill_between(index[:rank], values.numpy()[:rank], values.numpy().min() / 2, color=OKABE_ITO[0], alpha=0.25,
                      label=f"kept: the first {rank}")
    left.axvline(rank, color=OKABE_ITO[1], linestyle="--", linewidth=2)
    left.set(xlabel="singular value number", ylabel="singular value (log scale)", title="the layer's spectrum")
    left.legend(loc="upper right")
    ranks = [row["rank"] for row in sweep["ranks"]]
    right.plot(ranks, [100 * row["accuracy"] for row in sweep["ranks"]], "o-", color=OKABE_ITO[0], linewidth=2,
               label="factorized")
    right.plot([row["rank"] for row in finetuned], [100 * row["accuracy"] for row in finetuned], "s--",
               color=OKABE_ITO[2], linewidth=2, markersize=8, label="factorized, then fine-tuned")
    right.axhline(100 * sweep["teacher"]["accuracy"], color="black", linestyle=":", label="unfactorized")
    right.axvline(rank, color=OKABE_ITO[1], linestyle="--", linewidth=2)
    right.set_xscale("log", base=2)
    right.set_xticks(ranks, [str(r) for r in ranks])
    right.set(xlabel="rank", ylabel="test accuracy (%)", title="accuracy against rank")
    right.legend(loc="lower right")
    fig.suptitle(title)
    return fig


def plot_activation_ranges(samples: dict, title: str = "The teacher's activations") -> Figure:
    """A histogram (log counts) of each layer's sampled activations, with its maximum and 99.99th percentile."""
    fig = _figure(3.2 * len(samples), 3.8)
    axes = np.atleast_1d(fig.subplots(1, len(samples)))
    for ax, (name, values) in zip(axes, samples.items()):
        values = values.float()
        ax.hist(values.numpy(), bins=80, color=OKABE_ITO[0], log=True)
        top, percentile = float(values.max()), float(torch.quantile(values, 0.9999))
        ax.axvline(percentile, color=OKABE_ITO[5], linestyle="--")
        ax.set(title=f"{name}: max {top:.3g}\n99.99 %: {percentile:.3g}", xlabel="activation")
    axes[0].set_ylabel("count (log scale)")
    fig.suptitle(title)
    return fig


# ==============================================================================================================
# 04 · Knowledge distillation
# ==============================================================================================================

def _probability_label(p: float) -> str:
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1e}"


class ClassProbabilities(Redrawn):
    """An image beside its class probabilities (the temperature explorer, notebook 04): points on a log axis that
    starts a decade below the smallest probability (never below ``floor``, where zeros are drawn), since dark
    knowledge is tiny; or bars from zero on a linear axis. :meth:`update` moves the points (or bars), the labels and
    the image in place, so a slider redraws only what changed."""

    def __init__(self, classes: Sequence[str], log_scale: bool = True, floor: float = 1e-20) -> None:
        self.classes, self.log_scale, self.floor = list(classes), log_scale, floor
        self.figure = fig = Figure(figsize=(11, 4.2))  # a fixed layout, not constrained: redrawn by a slider
        fig.subplots_adjust(left=0.02, right=0.97, bottom=0.14, top=0.9, wspace=0.45)
        self.image_ax, self.bar_ax = fig.subplots(1, 2, width_ratios=[1, 2.6])
        self.image_ax.axis("off")
        self.picture = None
        rows = range(len(self.classes))
        if log_scale:
            self.points = self.bar_ax.scatter(np.ones(len(rows)), rows, s=70, zorder=3)
            self.bar_ax.set_yticks(rows, self.classes)
            self.bar_ax.grid(axis="y", alpha=0.3)
            self.bar_ax.set_xscale("log")
            self.bar_ax.xaxis.set_major_locator(LogLocator(numticks=6))  # few labels: readable, and quick to redraw
            self.bar_ax.xaxis.set_minor_locator(NullLocator())
        else:
            self.bars = self.bar_ax.barh(self.classes, np.zeros(len(rows)))
            self.bar_ax.set_xlim(0, 1.15)
            self.bar_ax.set_axisbelow(True)  # the grid under the bars, also when they are redrawn over it
        self.labels = [self.bar_ax.annotate("", (1.0, y), xytext=(6, 0), textcoords="offset points", va="center",
                                            fontsize=10) for y in rows]
        self.bar_ax.invert_yaxis()
        self.bar_ax.set_xlabel("probability" + (" (log scale)" if log_scale else ""))

    def moving(self) -> list[Artist]:
        shown = [self.points] if self.log_scale else list(self.bars)
        return [*self.bar_ax.spines.values(), *shown, *self.labels, self.bar_ax.title]  # the bars go under the spine

    def update(self, image: torch.Tensor, probabilities: torch.Tensor, label: int | None = None,
               title: str = "", smallest: float | None = None) -> ClassProbabilities:
        """Show ``image`` (true class ``label``) and its ``probabilities``, one per class. The log axis starts a
        decade below the smallest probability, or below ``smallest`` where given (an explorer passes the smallest
        its slider can reach, so that the axis holds still while the slider moves)."""
        probabilities = _as_numpy(probabilities).astype(float)
        if probabilities.ndim != 1 or len(probabilities) != len(self.classes):
            raise ValueError(f"probabilities must be one value per class ({len(self.classes)}), "
                             f"got shape {probabilities.shape}")
        pixels = _as_numpy(image)
        if self.picture is None:
            self.picture = self.image_ax.imshow(pixels, cmap="gray_r")
        elif not np.array_equal(self.picture.get_array(), pixels):
            self.picture.set_data(pixels)
            self.picture.set_clim(float(pixels.min()), float(pixels.max()))
            self.redraw_all()
        image_title = f"true class: {self.classes[label]}" if label is not None else ""
        if self.image_ax.get_title() != image_title:
            self.image_ax.set_title(image_title)
            self.redraw_all()
        colors = [OKABE_ITO[1] if i == label else OKABE_ITO[0] for i in range(len(self.classes))]
        shown = np.maximum(probabilities, self.floor) if self.log_scale else probabilities
        if self.log_scale:
            self.points.set_offsets(np.column_stack([shown, np.arange(len(shown))]))
            self.points.set_color(colors)
            low = max(self.floor, float(shown.min()) if smallest is None else float(smallest))
            limits = (max(self.floor, 10 ** (np.floor(np.log10(low)) - 1)), 30)
            if not np.allclose(self.bar_ax.get_xlim(), limits):
                self.bar_ax.set_xlim(*limits)
                self.redraw_all()  # the axis is drawn once with the rest
        else:
            for bar, width, color in zip(self.bars, shown, colors):
                bar.set_width(width)
                bar.set_color(color)
        for y, (text, p) in enumerate(zip(self.labels, probabilities)):
            text.xy = (shown[y], y)
            text.set_text(_probability_label(p))
        self.bar_ax.set_title(title)
        return self


def plot_class_probabilities(image: torch.Tensor, probabilities: torch.Tensor, classes: Sequence[str], *,
                             label: int | None = None, title: str = "", log_scale: bool = True,
                             floor: float = 1e-20) -> Figure:
    """An image beside its class probabilities, as a figure of its own (see :class:`ClassProbabilities`)."""
    return ClassProbabilities(classes, log_scale, floor).update(image, probabilities, label, title).figure


def plot_temperatures(logits: torch.Tensor, classes: Sequence[str], temperatures: Sequence[float] = (1, 4, 20),
                      label: int | None = None) -> Figure:
    """The same logits softened at several temperatures, side by side (linear scale)."""
    logits = torch.as_tensor(logits, dtype=torch.float32)
    fig = _figure(4 * len(temperatures), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(temperatures), sharey=True))
    for ax, T in zip(axes, temperatures):
        probabilities = soft_targets(logits, T)
        colors = [OKABE_ITO[1] if i == label else OKABE_ITO[0] for i in range(len(classes))]
        ax.barh(list(classes), probabilities.numpy(), color=colors)
        ax.set_xlim(0, 1)
        ax.set_title(f"T = {T:g}: entropy {float(entropy(probabilities)):.2f} bits")
        ax.set_xlabel("probability")
    axes[0].invert_yaxis()
    return fig


def plot_entropy_curve(temperatures: Sequence[float], entropies: Sequence[float], num_classes: int = 10) -> Figure:
    """Mean entropy of the soft targets against T (log scale), with the uniform distribution's ceiling."""
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    ax.plot(temperatures, entropies, "o-", color=OKABE_ITO[0], label="teacher's soft targets")
    ax.axhline(np.log2(num_classes), color=OKABE_ITO[5], linestyle="--", label=f"uniform: log2({num_classes})")
    ax.set_xscale("log")
    ax.set(xlabel="temperature T (log scale)", ylabel="mean entropy (bits)", title="Softer with every degree")
    ax.legend(loc="lower right")
    return fig


def plot_gradient_scaling(scaling: dict[str, list[float]]) -> Figure:
    """Gradient norm of the soft term against T, without and with the T^2 factor (log-log); the legend says by how
    much each changes over the temperatures drawn."""
    fig = _figure(8, 4.5)
    ax = fig.subplots()
    without, with_t2 = np.asarray(scaling["without_T2"], float), np.asarray(scaling["with_T2"], float)
    ax.plot(scaling["T"], without, "o-", color=OKABE_ITO[5],
            label=f"KL alone: falls {without.max() / without.min():.0f}x")
    ax.plot(scaling["T"], with_t2, "s-", color=OKABE_ITO[0],
            label=f"T² x KL: within a factor {with_t2.max() / with_t2.min():.1f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="temperature T", ylabel="gradient norm w.r.t. student logits",
           title=f"Without T², the soft term's gradient falls {without.max() / without.min():.0f}x "
                 f"from T = {scaling['T'][0]:g} to {scaling['T'][-1]:g}")
    ax.legend()
    return fig


def plot_class_similarity(similarity: torch.Tensor, classes: Sequence[str], title: str = "What the teacher finds alike") -> Figure:
    """Row c: the teacher's average probability for each class over images of true class c (log colour scale)."""
    matrix = _as_numpy(similarity).astype(float)
    fig = _figure(9, 7.5)
    ax = fig.subplots()
    shown = ax.imshow(np.maximum(matrix, 1e-6), cmap="cividis", norm=LogNorm(vmin=1e-6, vmax=1))
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set(xlabel="teacher's probability for class", ylabel="true class", title=title)
    ax.grid(False)
    fig.colorbar(shown, ax=ax, label="average probability (log scale)")
    return fig


class LossBreakdownFigure(Redrawn):
    """The two weighted terms of the distillation loss and their gradient norms (from distill.loss_breakdown), for
    the alpha/T explorer (notebook 04); :meth:`update` resizes the bars and rewrites their labels in place."""

    NAMES = ("soft: alpha T² KL", "hard: (1 - alpha) CE")

    def __init__(self) -> None:
        self.figure = fig = Figure(figsize=(11, 3.8))  # fixed layout: redrawn by sliders
        fig.subplots_adjust(left=0.17, right=0.97, bottom=0.2, top=0.8, wspace=0.85)
        self.loss_ax, self.grad_ax = fig.subplots(1, 2)
        colors = [OKABE_ITO[0], OKABE_ITO[1]]
        self.loss_bars = list(self.loss_ax.barh(self.NAMES, [0, 0], color=colors))
        self.grad_bars = (list(self.grad_ax.barh(self.NAMES, [0, 0], color=colors))
                          + list(self.grad_ax.barh(["soft without T²"], [0], color=OKABE_ITO[5])))
        self.labels = {}
        for ax, bars in ((self.loss_ax, self.loss_bars), (self.grad_ax, self.grad_bars)):
            self.labels[ax] = [ax.annotate("", (0, y), xytext=(3, 0), textcoords="offset points", va="center")
                               for y in range(len(bars))]
            ax.invert_yaxis()
            ax.margins(x=0.25)
            ax.set_axisbelow(True)  # the grid under the bars, also when they are redrawn over it
        self.loss_ax.set(title="weighted loss terms", xlabel="loss")
        self.grad_ax.set(title="gradient norm w.r.t. student logits", xlabel="norm")

    def moving(self) -> list[Artist]:
        spines = [spine for ax in (self.loss_ax, self.grad_ax) for spine in ax.spines.values()]  # over the bars
        return [*spines, *self.loss_bars, *self.grad_bars, *self.labels[self.loss_ax], *self.labels[self.grad_ax],
                self.figure._suptitle]

    def update(self, parts: LossBreakdown, titled: bool = True,
               limits: tuple[float, float] | None = None) -> LossBreakdownFigure:
        """Show the loss terms and gradient norms of ``parts``, and their :func:`loss_breakdown_title` if
        ``titled`` (an explorer shows it as text beside the figure instead). The axes fit the bars, or reach the
        largest loss and gradient norm in ``limits`` where given (an explorer's, so that they hold still)."""
        for i, (ax, bars, values) in enumerate((
                (self.loss_ax, self.loss_bars, [parts.soft, parts.hard]),
                (self.grad_ax, self.grad_bars, [parts.soft_grad, parts.hard_grad, parts.soft_grad_without_T2]))):
            for bar, text, value in zip(bars, self.labels[ax], values):
                bar.set_width(value)
                text.xy = (value, text.xy[1])
                text.set_text(f"{value:.3g}")
            before = ax.get_xlim()
            if limits is None:
                ax.relim()
                ax.autoscale_view()
            else:
                ax.set_xlim(0, limits[i] * 1.25)  # room for the largest bar's label
            if not np.allclose(ax.get_xlim(), before):
                self.redraw_all()  # the axes are drawn once with the rest
        self.figure.suptitle(loss_breakdown_title(parts) if titled else "")
        return self


def loss_breakdown_title(parts: LossBreakdown) -> str:
    """The settings and the total of a loss breakdown, in words."""
    return f"T = {parts.T:.3g}, alpha = {parts.alpha:.2f}: total loss {parts.total:.3f}"


def plot_loss_breakdown(parts: LossBreakdown) -> Figure:
    """The distillation loss's terms and gradient norms, as a figure of its own (see :class:`LossBreakdownFigure`)."""
    return LossBreakdownFigure().update(parts).figure


def plot_seed_comparison(results: dict[str, dict], title: str = "Scratch against distilled",
                         methods: Sequence[str] = ("scratch", "distilled")) -> Figure:
    """Accuracy of each seed (dots) and the mean (a wide mark, with the seeds' standard deviation) of each of
    ``methods``, per setting. No bars: the accuracy axis is zoomed to the data, which the label says.

    ``results`` maps a setting's name to {method: {"runs", "mean", "sd"}}, as
    :func:`kdviz.distillation_runs.compare_over_seeds` gives it.
    """
    if not results:
        raise ValueError("results must name at least one setting")
    fig = _figure(1.6 * len(methods) * len(results) + 1, 4.8)
    ax = fig.subplots()
    width = 0.76 / len(methods)
    for i, summary in enumerate(results.values()):
        for j, method in enumerate(methods):
            x = i + (j - (len(methods) - 1) / 2) * width
            runs = [100 * r for r in summary[method]["runs"]]
            mean = 100 * summary[method]["mean"]
            ax.hlines(mean, x - width * 0.4, x + width * 0.4, color=OKABE_ITO[j], linewidth=4,
                      label=f"{method} (mean, ± sd)" if i == 0 else None)
            ax.errorbar(x, mean, yerr=100 * summary[method]["sd"], color="black", capsize=4)
            ax.scatter([x] * len(runs), runs, color=OKABE_ITO[j], edgecolors="black", zorder=3,
                       label=f"{method} (one seed)" if i == 0 else None)
            ax.annotate(f"{mean:.1f}", (x, max(runs)), xytext=(0, 6), textcoords="offset points", ha="center")
    all_runs = [100 * r for s in results.values() for m in methods for r in s[m]["runs"]]
    ax.set_ylim(min(all_runs) - 3, max(all_runs) + 2)
    ax.set_xticks(range(len(results)), list(results))
    ax.set_xlim(-0.6, len(results) - 0.4)
    ax.set(ylabel="test accuracy (%), axis zoomed", title=title)
    ax.legend(loc="lower right", fontsize=10, ncol=2 if len(methods) > 2 else 1)
    return fig


def plot_sweep(accuracies: dict[tuple[float, float], float], baseline: float | None = None,
               split: str = "test") -> Figure:
    """Accuracy on ``split`` over a T x alpha grid as an annotated heat map; ``baseline`` (scratch, on the same
    split) shown in each cell's delta."""
    temperatures = sorted({T for T, _ in accuracies})
    alphas = sorted({a for _, a in accuracies})
    grid = np.array([[100 * accuracies.get((T, a), np.nan) for T in temperatures] for a in alphas])
    fig = _figure(1.6 * len(temperatures) + 3, 1.0 * len(alphas) + 2)
    ax = fig.subplots()
    shown = ax.imshow(grid, cmap="cividis", aspect="auto")
    for i in range(len(alphas)):
        for j in range(len(temperatures)):
            text = f"{grid[i, j]:.1f}" + (f"\n({grid[i, j] - 100 * baseline:+.1f})" if baseline is not None else "")
            ax.text(j, i, text, ha="center", va="center", fontsize=11,
                    color="black" if grid[i, j] > np.nanmean(grid) else "white")
    ax.set_xticks(range(len(temperatures)), [f"{T:g}" for T in temperatures])
    ax.set_yticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set(xlabel="temperature T", ylabel="alpha (weight of the soft term)",
           title=f"Distilled {split} accuracy (%)" + (" and gain over scratch" if baseline is not None else ""))
    ax.grid(False)
    fig.colorbar(shown, ax=ax, label=f"{split} accuracy (%)")
    return fig


def plot_label_curve(labels: Sequence[int], scratch: Sequence[float], distilled: Sequence[float]) -> Figure:
    """Accuracy against the number of labelled images (log scale), scratch and distilled."""
    fig = _figure(8, 4.8)
    ax = fig.subplots()
    ax.plot(labels, [100 * a for a in scratch], "o-", color=OKABE_ITO[0], label="scratch (labelled images only)")
    ax.plot(labels, [100 * a for a in distilled], "s-", color=OKABE_ITO[1],
            label="distilled (labels + the rest as a transfer set)")
    ax.set_xscale("log")
    ax.set(xlabel="labelled training images (log scale)", ylabel="test accuracy (%)",
           title="Where distillation pays: few labels")
    ax.legend(loc="lower right")
    return fig


def plot_per_class(accuracies: dict[str, Sequence[float]], classes: Sequence[str], highlight: int | None = None,
                   title: str = "Accuracy per class") -> Figure:
    """Per-class test accuracy of several models side by side (one bar group per class)."""
    fig = _figure(12, 4.8)
    ax = fig.subplots()
    width = 0.8 / len(accuracies)
    for i, (name, values) in enumerate(accuracies.items()):
        ax.bar(np.arange(len(classes)) + (i - (len(accuracies) - 1) / 2) * width, [100 * v for v in values],
               width, color=OKABE_ITO[i], label=name)
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    if highlight is not None:
        ax.get_xticklabels()[highlight].set_fontweight("bold")
        ax.axvspan(highlight - 0.5, highlight + 0.5, color=OKABE_ITO[6], alpha=0.25)
    ax.set(ylabel="test accuracy (%)", title=title, ylim=(0, 105))
    ax.legend(loc="lower right")
    return fig


# ==============================================================================================================
# 05 · Better together
# ==============================================================================================================

def plot_deep_compression(stages: dict, title: str) -> Figure:
    """Left: how many times smaller than the float32 file each stage's file is, at the chosen codebook size (bars
    from zero, bytes written on them). Right: test accuracy against the codebook's bits, shared as is and with the
    codebooks fine-tuned, beside the dense and the pruned network; the chosen size marked."""
    fig = _figure(13, 4.8)
    left, right = fig.subplots(1, 2)
    chosen = next(row for row in stages["bits"] if row["bits"] == stages["chosen_bits"])
    names = ["float32", "pruned", f"+ shared ({chosen['bits']} bits)", "+ Huffman"]
    sizes = [stages["dense"]["bytes"], stages["pruned"]["bytes"], chosen["shared_bytes"], chosen["huffman_bytes"]]
    ratios = [sizes[0] / size for size in sizes]
    left.bar(range(4), ratios, color=[OKABE_ITO[i] for i in range(4)], edgecolor="black")
    for i, (ratio, size) in enumerate(zip(ratios, sizes)):
        left.annotate(f"{ratio:.1f}x\n{size / 1000:,.1f} kB", (i, ratio), xytext=(0, 4), textcoords="offset points",
                      ha="center", va="bottom")
    left.set_ylim(0, max(ratios) * 1.3)
    left.set_xticks(range(4), names)
    left.set(ylabel="times smaller than the float32 file", title="bytes on disk, stage by stage")
    bits = [row["bits"] for row in stages["bits"]]
    right.plot(bits, [100 * row["before_finetuning"]["accuracy"] for row in stages["bits"]], "o-", color=OKABE_ITO[0],
               linewidth=2, label="shared (k-means)")
    right.plot(bits, [100 * row["accuracy"] for row in stages["bits"]], "s--", color=OKABE_ITO[2], linewidth=2,
               markersize=8, label="shared, codebooks fine-tuned")
    right.axhline(100 * stages["dense"]["accuracy"], color="black", linestyle=":", label="dense")
    right.axhline(100 * stages["pruned"]["accuracy"], color=OKABE_ITO[5], linestyle="-.", label="pruned")
    right.axvline(stages["chosen_bits"], color=OKABE_ITO[1], linestyle="--", linewidth=2)
    right.set_xticks(bits, [f"{b}\n({2 ** b})" for b in bits])
    right.set(xlabel="bits per index (shared values per layer)", ylabel="test accuracy (%)",
              title="accuracy against the codebook's size")
    right.legend(loc="lower right")
    fig.suptitle(title)
    return fig


def plot_pareto(rows: Sequence[dict], cost: str = "bytes", title: str | None = None) -> Figure:
    """Canziani-style bubble chart of measured models: accuracy against ``cost`` (log scale; bytes shown in kB),
    bubble area by MACs, colour and marker by family, and the Pareto front drawn as a staircase through its members
    (labelled in bold)."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {list(COSTS)}, got {cost!r}")
    if not rows:
        raise ValueError("rows must hold at least one measured model (pareto_runs.collect)")
    front = pareto_front(rows, cost)
    scale, axis_label = (1e-3, "size (kB)") if cost == "bytes" else (1.0, COSTS[cost])
    x = lambda r: r[cost] * scale  # noqa: E731
    fig = _figure(12, 7)
    ax = fig.subplots()
    largest = max(r["MACs"] for r in rows)
    area = lambda r: 40 + 1500 * r["MACs"] / largest  # noqa: E731
    families = list(FAMILIES) + sorted({r["family"] for r in rows} - set(FAMILIES))  # a family keeps its style
    markers = "osD^vP*X"
    for i, family in enumerate(families):
        members = [r for r in rows if r["family"] == family]
        if not members:
            continue
        ax.scatter([x(r) for r in members], [100 * r["accuracy"] for r in members], s=[area(r) for r in members],
                   color=OKABE_ITO[i % len(OKABE_ITO)], marker=markers[i % len(markers)], alpha=0.7,
                   edgecolors="black", linewidths=0.6, label=family, zorder=3)
    on_front = sorted((r for r in rows if r["name"] in front), key=lambda r: r[cost])
    ax.step([x(r) for r in on_front], [100 * r["accuracy"] for r in on_front], where="post", color="black",
            linestyle="--", linewidth=1.5, zorder=2, label="Pareto front")
    ax.set_xscale("log")
    _plain_log_ticks(ax, "x")
    ax.margins(x=0.12, y=0.08)
    ax.set(xlabel=f"{axis_label} (log scale)", ylabel="test accuracy (%)",
           title=title or f"Accuracy against {axis_label}; bubble area = MACs; bold = on the Pareto front")
    legend = ax.legend(loc="lower right", title="family")
    for handle in legend.legend_handles:
        if hasattr(handle, "set_sizes"):
            handle.set_sizes([80])
    _label_without_overlap(ax, [(x(r), 100 * r["accuracy"]) for r in rows], [r["name"] for r in rows],
                           [r["name"] in front for r in rows])
    return fig


def plot_attack_curves(curves: dict[str, dict], title: str = "Accuracy under the fast gradient sign attack") -> Figure:
    """Accuracy against the attack's epsilon, one line per model and attack (from :func:`kdviz.adversarial.attack_curve`);
    the legend gives the share of images whose input gradient was exactly zero."""
    if not curves:
        raise ValueError("curves must hold at least one attack curve")
    fig = _figure(9, 5.5)
    ax = fig.subplots()
    styles = ("-", "--", ":", "-.")
    for i, (label, curve) in enumerate(curves.items()):
        ax.plot(curve["epsilon"], [100 * a for a in curve["accuracy"]], marker="os^Dv"[i % 5], linewidth=2.5,
                linestyle=styles[i % len(styles)], color=OKABE_ITO[i % len(OKABE_ITO)],
                label=f"{label} (zero gradient: {100 * curve['zero_gradient']:.0f} % of images)")
    ax.set(xlabel="epsilon: the largest change of any pixel (pixels in [0, 1])", ylabel="test accuracy (%)",
           title=title, ylim=(0, 100))
    ax.legend(loc="upper right", fontsize=10)
    return fig
