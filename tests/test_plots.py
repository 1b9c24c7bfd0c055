"""kdviz.plots: every function returns a Figure with the expected content, and leaves pyplot untouched."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from conftest import same_picture
from kdviz import architectures, calibration, distill, landscape, plots, quantize
from kdviz.data import CLASSES
from kdviz.train import History


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before, "a plot function left a pyplot figure open"


def test_image_grid_and_class_examples():
    images = torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)
    fig = plots.plot_images(images[:10], titles=[str(i) for i in range(10)], columns=5)
    assert isinstance(fig, Figure) and len(fig.axes) == 10 and fig.axes[3].get_title() == "3"
    fig = plots.plot_class_examples(images, torch.arange(20) % 10, CLASSES["fashion-mnist"], per_class=2)
    assert [ax.get_title() for ax in fig.axes[:10]] == list(CLASSES["fashion-mnist"])
    with pytest.raises(ValueError, match="images"):
        plots.plot_images(torch.zeros(0, 28, 28))


def test_class_balance_draws_one_bar_per_class_and_split():
    fig = plots.plot_class_balance({"train": torch.full((10,), 6000), "test": torch.full((10,), 1000)},
                                   CLASSES["fashion-mnist"])
    widths = sorted({round(p.get_width()) for p in fig.axes[0].patches})
    assert len(fig.axes[0].patches) == 20 and widths == [1000, 6000]


def test_history_plots_both_curves():
    history = History([{"epoch": e, "train_loss": 1 / e, "train_accuracy": 0.5, "test_loss": 1.2 / e,
                        "test_accuracy": 0.4 + e / 100, "seconds": 1.0} for e in (1, 2, 3)])
    fig = plots.plot_history(history)
    loss_ax, accuracy_ax = fig.axes
    assert len(loss_ax.lines) == 2 and list(accuracy_ax.lines[1].get_ydata()) == pytest.approx([41, 42, 43])
    with pytest.raises(ValueError, match="no epochs"):
        plots.plot_history(History())


def test_landscape_chart_has_a_bubble_per_model():
    records = landscape.imagenet_classifiers()
    fig = plots.plot_landscape(records)
    points = sum(len(c.get_offsets()) for c in fig.axes[0].collections)
    assert points == len(records) and fig.axes[0].get_xscale() == "log"


def test_comparison_plot_shows_each_measure():
    table = pd.DataFrame({"bytes": [3.5e6, 3.2e5], "MACs": [1.9e7, 8e4], "ms @ batch 1": [0.5, 0.05],
                          "ms @ batch 256": [300, 10], "accuracy": [0.93, 0.88]}, index=["teacher", "mlp"])
    fig = plots.plot_comparison(table)
    assert [ax.get_title() for ax in fig.axes] == ["size (MB)", "MMACs per image", "ms @ batch 1",
                                                   "ms @ batch 256", "test accuracy (%), zoomed"]
    assert not fig.axes[4].patches  # no bars on the zoomed accuracy axis: points
    assert fig.axes[4].collections[-1].get_offsets()[:, 0].tolist() == pytest.approx([93, 88])
    assert fig.axes[4].get_xlim()[0] == pytest.approx(86)
    assert fig.axes[0].get_xscale() == "log"  # sizes ten times apart
    assert not fig.axes[0].patches and len(fig.axes[0].collections[0].get_offsets()) == 2  # points: no bars on a log axis
    close = plots.plot_comparison(table.assign(bytes=[3.5e6, 3.2e6]))
    assert close.axes[0].get_xscale() == "linear"  # sizes alike: a log axis would exaggerate the difference
    assert [p.get_width() for p in close.axes[0].patches] == pytest.approx([3.5, 3.2])  # bars from zero
    with pytest.raises(ValueError, match="at least one model"):
        plots.plot_comparison(table.iloc[:0])
    table["accuracy sd"] = [0.002, None]
    errors = plots.plot_comparison(table).axes[4].containers[0]  # the error bars, then the bars
    assert errors.lines[2][0].get_segments()[0][:, 0] == pytest.approx([92.8, 93.2])


def test_convolution_costs_annotate_each_saving():
    fig = plots.plot_convolution_costs(architectures.compare_costs(32, 64, 3, 14, 8), "a title")
    parameters, work = fig.axes
    assert not work.patches  # points, not bars, on a log axis
    assert list(work.collections[0].get_offsets()[:, 0]) == [3_612_672, 457_856, 953_344, 551_936]
    notes = [t.get_text() for t in work.texts]
    assert notes[0] == "3,612,672" and notes[1].endswith("(7.9x fewer)")
    assert parameters.get_xscale() == "log" and fig._suptitle.get_text() == "a title"


def test_latency_against_macs_places_each_row():
    rows = [{"layer": "standard", "group": "14x14", "MACs": 1e8, "ms": 2.0, "MACs per byte": 70, "GMAC/s": 50},
            {"layer": "depthwise", "group": "14x14", "MACs": 1e6, "ms": 1.0, "MACs per byte": 1.1, "GMAC/s": 1}]
    fig = plots.plot_latency_against_macs(rows)
    left, right = fig.axes
    assert [tuple(c.get_offsets()[0]) for c in left.collections[:2]] == [(1e8, 2.0), (1e6, 1.0)]
    assert [tuple(c.get_offsets()[0]) for c in right.collections] == [(70, 50), (1.1, 1)]
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["standard", "depthwise", "14x14"]
    with pytest.raises(ValueError, match="at least one measured layer"):
        plots.plot_latency_against_macs([])


def test_class_probabilities_on_a_log_scale_name_every_class():
    probabilities = torch.softmax(torch.arange(10.0) * 4, 0)
    fig = plots.plot_class_probabilities(torch.zeros(28, 28), probabilities, CLASSES["fashion-mnist"], label=9)
    bars = fig.axes[1]
    assert bars.get_xscale() == "log" and [t.get_text() for t in bars.get_yticklabels()] == list(CLASSES["fashion-mnist"])
    assert not bars.patches and len(bars.collections[0].get_offsets()) == 10  # points, not bars, on a log axis
    smallest = float(probabilities.min())  # about 2e-16: the axis starts a decade below, not at the 1e-20 floor
    assert smallest / 100 < bars.get_xlim()[0] <= smallest
    assert plots.plot_class_probabilities(torch.zeros(28, 28), probabilities, CLASSES["fashion-mnist"],
                                          log_scale=False).axes[1].patches  # a linear axis keeps its bars
    texts = [t.get_text() for t in bars.texts]
    assert texts[0] == f"{probabilities[0]:.1e}" and texts[9] == f"{probabilities[9]:.2f}"
    with pytest.raises(ValueError, match="one value per class"):
        plots.plot_class_probabilities(torch.zeros(28, 28), probabilities[:5], CLASSES["fashion-mnist"])


def test_temperature_and_distillation_figures():
    logits = torch.arange(10.0)
    fig = plots.plot_temperatures(logits, CLASSES["fashion-mnist"], temperatures=(1, 10))
    assert [ax.get_title().split(":")[0] for ax in fig.axes] == ["T = 1", "T = 10"]
    fig = plots.plot_entropy_curve([1, 10], [1.0, 3.0])
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 3.0]
    fig = plots.plot_gradient_scaling({"T": [1, 2], "without_T2": [1, 0.25], "with_T2": [1, 1]})
    assert fig.axes[0].get_yscale() == "log" and len(fig.axes[0].lines) == 2
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["KL alone: falls 4x",
                                                                           "T² x KL: within a factor 1.0"]
    fig = plots.plot_class_similarity(torch.eye(10), CLASSES["fashion-mnist"])
    assert fig.axes[0].images[0].get_array().shape == (10, 10)
    parts = distill.LossBreakdown(T=4, alpha=0.9, soft=1.8, hard=0.1, soft_grad=0.2, hard_grad=0.1,
                                  soft_grad_without_T2=0.01)
    fig = plots.plot_loss_breakdown(parts)
    assert [p.get_width() for p in fig.axes[0].patches] == pytest.approx([1.8, 0.1])
    assert fig.texts[0].get_text() == "T = 4, alpha = 0.90: total loss 1.900"


def test_experiment_figures():
    summary = {"scratch": {"runs": [0.8, 0.82], "mean": 0.81, "sd": 0.014},
               "distilled": {"runs": [0.85, 0.86], "mean": 0.855, "sd": 0.007}}
    fig = plots.plot_seed_comparison({"1,000 labels": summary})
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections if hasattr(c, "get_offsets")) >= 4
    assert not fig.axes[0].patches and "zoomed" in fig.axes[0].get_ylabel()  # no bars on a zoomed axis
    fig = plots.plot_sweep({(2, 0.5): 0.8, (4, 0.5): 0.9}, baseline=0.85)
    assert [t.get_text() for t in fig.axes[0].texts] == ["80.0\n(-5.0)", "90.0\n(+5.0)"]
    fig = plots.plot_sweep({(2, 0.5): 0.8}, split="validation")
    assert "validation" in fig.axes[0].get_title() and fig.axes[1].get_ylabel() == "validation accuracy (%)"
    fig = plots.plot_label_curve([500, 1000], [0.7, 0.8], [0.8, 0.85])
    assert list(fig.axes[0].lines[1].get_ydata()) == pytest.approx([80, 85])
    fig = plots.plot_per_class({"a": [0.5] * 10, "b": [1.0] * 10}, CLASSES["fashion-mnist"], highlight=3)
    assert len(fig.axes[0].patches) >= 20
    with pytest.raises(ValueError, match="at least one setting"):
        plots.plot_seed_comparison({})


def test_pruning_figures_draw_their_data():
    rows = [{"sparsity": s, "accuracy": a} for s, a in ((0.0, 0.93), (0.5, 0.92), (0.9, 0.8))]
    fig = plots.plot_sparsity_curves({"magnitude": rows, "OBD": rows[:2]}, baseline=0.93)
    assert [len(line.get_xdata()) for line in fig.axes[0].lines[:2]] == [3, 2]
    state = plots.plot_sparsity_state(torch.linspace(-1, 1, 1000), 0.5, 0.5, rows)
    kept, removed = state.axes[0].lines[:2]  # step outlines on the log axis, not bars
    assert not state.axes[0].patches and state.axes[0].get_yscale() == "log"
    drawn = removed.get_xdata()[np.isfinite(removed.get_ydata())]
    assert len(drawn) and all(abs(x) < 0.5 for x in drawn)
    assert all(abs(x) >= 0.5 for x in kept.get_xdata()[np.isfinite(kept.get_ydata())])
    assert "about 92.0 % accuracy" in state._suptitle.get_text()
    prediction = [{"fraction": f, "predicted": p, "actual": a} for f, p, a in ((0.1, 0.01, 0.012), (0.5, 0.2, 0.4))]
    fig = plots.plot_loss_prediction({"OBD": prediction})
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.012, 0.4] and fig.axes[0].get_yscale() == "symlog"
    curves = {"sparsities": [0.0, 0.9], "0": [0.9, 0.5], "3": [0.9, 0.8]}
    assert len(plots.plot_sensitivity(curves).axes[0].lines) == 2
    steps = [{"sparsity": 0.5, "accuracy": 0.93, "accuracy_pruned": 0.92}]
    assert len(plots.plot_iterative_pruning({"magnitude": steps}, 0.93).axes[0].lines) == 4
    exact = {"w": torch.tensor([1.0, 2.0, 3.0])}
    fig = plots.plot_diagonal_estimates(exact, {"noisy": {"w": torch.tensor([1.1, -0.5, 3.2])}})
    assert "negative: 1" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    fig = plots.plot_hutchinson_convergence([{"probes": 1, "relative_error": 1.0, "negative": 0.3},
                                             {"probes": 100, "relative_error": 0.1, "negative": 0.01}])
    assert list(fig.axes[0].lines[0].get_ydata()) == [1.0, 0.1]


def test_quantization_figures_draw_their_data():
    weights = torch.randn(2000, generator=torch.Generator().manual_seed(0))
    params = quantize.choose_qparams(weights, 3, symmetric=True)
    curve = [{"bits": b, "accuracy": a} for b, a in ((8, 0.93), (4, 0.92), (2, 0.5))]
    fig = plots.plot_quantization_state(weights, quantize.levels(params), 4, {"mse": 0.1, "sqnr_db": 10.0}, curve)
    levels = fig.axes[0].collections[-1].get_segments()
    assert sorted(float(segment[0][0]) for segment in levels) == sorted(quantize.levels(params).tolist())
    assert "SQNR 10.0 dB" in fig.axes[0].get_title()
    assert fig.axes[1].lines[1].get_xydata().tolist() == [[4.0, 92.0]]
    fig = plots.plot_quantization_state(weights, quantize.levels(params), 5, {"mse": 0.1, "sqnr_db": 10.0}, curve)
    assert len(fig.axes[1].lines[1].get_xydata()) == 0 and "5 bits not measured" in fig.axes[1].get_title()
    fig = plots.plot_bits_curves({"per tensor": curve}, baseline=0.93)
    assert fig.axes[0].xaxis_inverted() and len(fig.axes[0].lines) == 2
    assert list(fig.axes[0].get_xticks()) == [2, 4, 8]  # ticks at the measured depths only
    fig = plots.plot_bits_curves({"per tensor": curve}, connect=False, ylabel="validation accuracy (%)")
    assert fig.axes[0].lines[0].get_linestyle() == "None"  # points, no line through the unmeasured depths
    assert fig.axes[0].get_ylabel() == "validation accuracy (%)"
    fig = plots.plot_activation_functions(calibration.FUNCTIONS)
    assert len(fig.axes[0].lines) == len(calibration.FUNCTIONS)
    assert any(t.get_text().startswith("ReLU6: [0, 6]") for t in fig.axes[0].get_legend().get_texts())
    fig = plots.plot_activation_ranges({"2": torch.rand(1000), "5": torch.rand(1000) * 3})
    assert len(fig.axes) == 2 and fig.axes[1].get_title().startswith("5: max")


def test_plot_attack_curves_draws_one_line_per_curve():
    curves = {"a": {"epsilon": [0.0, 0.1], "accuracy": [0.9, 0.2], "zero_gradient": 0.0},
              "b": {"epsilon": [0.0, 0.1], "accuracy": [0.9, 0.8], "zero_gradient": 0.75}}
    ax = plots.plot_attack_curves(curves).axes[0]
    assert [list(line.get_ydata()) for line in ax.get_lines()] == [[90.0, 20.0], [90.0, 80.0]]
    assert "75 %" in ax.get_legend().get_texts()[1].get_text()
    with pytest.raises(ValueError, match="curves must hold"):
        plots.plot_attack_curves({})


@pytest.mark.parametrize("kind", ["probabilities, log", "probabilities, linear", "loss", "sparsity", "bits"])
def test_a_figure_redrawn_in_place_matches_one_drawn_afresh(kind, any_style):
    """The explorers update their figures in place: after moving from one state to another, the picture is the one
    a new figure of the second state shows, pixel for pixel."""
    generator = torch.Generator().manual_seed(0)
    classes = CLASSES["fashion-mnist"]
    images = torch.rand(2, 28, 28, generator=generator)
    logits = torch.randn(2, 10, generator=generator) * 6
    weights = torch.randn(5000, generator=generator) * 0.1
    if kind.startswith("probabilities"):
        log_scale = kind.endswith("log")
        states = [(images[0], torch.softmax(logits[0] / T, -1), 3, f"T = {T}") for T in (1.0, 8.0)]
        live = plots.ClassProbabilities(classes, log_scale).update(*states[0])
        live.png()
        fresh = plots.plot_class_probabilities(states[1][0], states[1][1], classes, label=states[1][2],
                                               title=states[1][3], log_scale=log_scale)
        live.update(*states[1])
    elif kind == "loss":
        student, teacher = torch.randn(32, 10, generator=generator), torch.randn(32, 10, generator=generator) * 5
        labels = torch.randint(0, 10, (32,), generator=generator)
        first, second = (distill.loss_breakdown(student, teacher, labels, T, alpha) for T, alpha in ((2, 0.5), (12, 0.9)))
        live = plots.LossBreakdownFigure().update(first)
        live.png()
        fresh = plots.plot_loss_breakdown(second)
        live.update(second)
    elif kind == "sparsity":
        curve = [{"sparsity": s, "accuracy": 0.9 - s / 2} for s in (0.0, 0.5, 0.9)]
        live = plots.SparsityState(weights, curve).update(0.2, 0.02)
        live.png()
        fresh = plots.plot_sparsity_state(weights, 0.7, 0.1, curve)
        live.update(0.7, 0.1)
    else:
        curve = [{"bits": b, "accuracy": 0.5 + b / 20} for b in (8, 4, 2)]
        first, second = (quantize.choose_qparams(weights, b, symmetric=True) for b in (2, 4))
        live = plots.QuantizationState(weights, curve).update(quantize.levels(first), 2, {"mse": 0.2, "sqnr_db": 3.0})
        live.png()
        fresh = plots.plot_quantization_state(weights, quantize.levels(second), 4, {"mse": 0.1, "sqnr_db": 9.0}, curve)
        live.update(quantize.levels(second), 4, {"mse": 0.1, "sqnr_db": 9.0})
    moved = live.png()  # the moving artists drawn over the first state's kept background
    assert moved[:4] == b"\x89PNG" and live.png() == moved  # and again: the same picture
    assert same_picture(moved, plots.to_png(fresh))
