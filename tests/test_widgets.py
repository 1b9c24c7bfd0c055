"""kdviz.widgets: moving a control redraws the figure, and many moves leak no figures."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from conftest import same_picture
from kdviz import widgets
from kdviz.data import CLASSES


def _explorer():
    labels = torch.arange(200) % 10
    images = (labels[:, None, None] * 20 + torch.arange(200)[:, None, None] % 7).to(torch.uint8).expand(200, 28, 28)
    return widgets.dataset_explorer(images.contiguous(), labels, CLASSES["fashion-mnist"], count=4)


def test_explorer_redraws_when_the_class_or_position_changes():
    explorer = _explorer()
    label, start = explorer.children[:2]
    assert label.description == "class" and start.max == 20 - 4 and start.step == 4
    figures = []
    original = widgets.plots.plot_images

    def spy(*args, **kwargs):
        figures.append(original(*args, **kwargs))
        return figures[-1]

    widgets.plots.plot_images = spy
    try:
        label.value = 3
        start.value = 8
    finally:
        widgets.plots.plot_images = original
    assert [f._suptitle.get_text() for f in figures] == ["Dress: images 0 to 3", "Dress: images 8 to 11"]
    pictures = [ax.images[0].get_array() for ax in figures[-1].axes if ax.images]
    assert len(pictures) == 4 and int(pictures[0][0, 0]) == 3 * 20 + (3 + 10 * 8) % 7


def test_hundred_moves_leave_no_figure_open():
    explorer = _explorer()
    before = plt.get_fignums()
    label, start = explorer.children[:2]
    for move in range(100):
        label.value = move % 10
        start.value = (move * 4) % 20
    assert plt.get_fignums() == before
    assert explorer.children[-1].value[:4] == b"\x89PNG"  # one picture, replaced at each move


def test_explorers_read_well_without_a_kernel():
    """A notebook stores a widget's plain text beside it, shown where the widget cannot run: it says what it is."""
    text = repr(_explorer())
    assert text.startswith("[data set explorer: interactive") and "children" not in text
    bundle = _explorer()._repr_mimebundle_()
    assert bundle["text/plain"] == text and "application/vnd.jupyter.widget-view+json" in bundle


def test_no_explorer_uses_a_dropdown_or_a_selection_list():
    """JupyterLab takes the arrow keys of a focused dropdown, radio group or selection list to move between cells;
    the explorers use buttons, check boxes and sliders, which work from the keyboard there."""
    import ipywidgets

    from kdviz import predict

    explorer_, _ = _temperature_explorer()
    boxes = [_explorer(), explorer_, widgets.convolution_explorer(), predict.Prediction("q?", ["a", "b"]).widget(),
             widgets.bits_explorer(torch.randn(300)), widgets.sparsity_explorer(torch.randn(300), [
                 {"sparsity": 0.0, "accuracy": 0.9}, {"sparsity": 0.5, "accuracy": 0.8}])]

    def controls(box):
        for child in getattr(box, "children", ()):
            yield child
            yield from controls(child)

    kinds = {type(c) for box in boxes for c in controls(box)}
    assert not kinds & {ipywidgets.Dropdown, ipywidgets.Select, ipywidgets.SelectMultiple, ipywidgets.RadioButtons}
    assert ipywidgets.ToggleButtons in kinds


def explorer_images_and_labels():
    generator = torch.Generator().manual_seed(5)
    return torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8, generator=generator), torch.arange(50) % 10


def _temperature_explorer():
    images, labels = explorer_images_and_labels()
    logits = torch.randn(50, 10, generator=torch.Generator().manual_seed(0)) * 6
    return widgets.temperature_explorer(images, labels, logits, CLASSES["fashion-mnist"]), logits


def test_temperature_slider_redraws_the_soft_targets(any_style):
    explorer, logits = _temperature_explorer()
    label = explorer.children[0]
    example, temperature, scale = explorer.children[1].children
    caption, picture = explorer.children[2:]
    images, labels = explorer_images_and_labels()
    assert 10 ** temperature.min == pytest.approx(0.5, rel=0.01) and 10 ** temperature.max == pytest.approx(50, rel=0.01)
    assert ((0 - temperature.min) / temperature.step) == pytest.approx(round((0 - temperature.min) / temperature.step))  # T = 1 on the grid

    def fresh(index, T, log_scale=True):  # the same state drawn in a new figure
        smallest = float(torch.softmax(logits[index] / 10 ** temperature.min, -1).min())  # the slider's lowest T
        return widgets.plots.to_png(widgets.temperature_view(images, labels, logits, CLASSES["fashion-mnist"], index,
                                                             T, log_scale, titled=False, smallest=smallest))

    first = picture.value
    temperature.value = 20.0
    assert picture.value != first and same_picture(picture.value, fresh(0, 20.0))
    assert "T = 20" in caption.value and widgets.temperature_title(logits, 0, 20.0) in caption.value
    label.value, example.value = 3, 2
    assert same_picture(picture.value, fresh(23, 20.0))
    scale.value = False
    assert same_picture(picture.value, fresh(23, 20.0, log_scale=False))
    scale.value = True
    temperature.value = 1.0
    assert same_picture(picture.value, fresh(23, 1.0))


def test_the_temperature_view_shows_the_soft_targets():
    generator = torch.Generator().manual_seed(0)
    images, labels = explorer_images_and_labels()
    logits = torch.randn(50, 10, generator=generator) * 6
    fig = widgets.temperature_view(images, labels, logits, CLASSES["fashion-mnist"], 23, 20.0)
    points = fig.axes[1].collections[0].get_offsets()[:, 0]
    assert torch.allclose(torch.as_tensor(points, dtype=torch.float32), torch.softmax(logits[23] / 20.0, -1))
    assert "T = 20" in fig.axes[1].get_title() and fig.axes[0].get_title() == "true class: Dress"


def test_temperature_explorer_leaks_no_figures_after_100_moves():
    import gc

    from matplotlib.figure import Figure

    explorer, _ = _temperature_explorer()
    temperature = explorer.children[1].children[1]
    gc.collect()
    before = sum(type(o) is Figure for o in gc.get_objects())
    for move in range(100):
        temperature.value = 0.5 + move * 0.4
    gc.collect()
    assert sum(type(o) is Figure for o in gc.get_objects()) <= before + 1
    assert plt.get_fignums() == []


def test_temperature_explorer_rejects_bad_input():
    with pytest.raises(ValueError, match="one entry per image"):
        widgets.temperature_explorer(torch.zeros(3, 28, 28), torch.zeros(3, dtype=torch.long), torch.zeros(2, 10),
                                     CLASSES["fashion-mnist"])
    with pytest.raises(ValueError, match="T"):
        widgets.temperature_explorer(torch.zeros(3, 28, 28), torch.zeros(3, dtype=torch.long), torch.zeros(3, 10),
                                     CLASSES["fashion-mnist"], T=0)


def test_loss_explorer_redraws_with_alpha_and_T(any_style):
    generator = torch.Generator().manual_seed(1)
    student, teacher = torch.randn(32, 10, generator=generator), torch.randn(32, 10, generator=generator) * 5
    labels = torch.randint(0, 10, (32,), generator=generator)
    explorer = widgets.loss_explorer(student, teacher, labels)
    temperature, alpha = explorer.children[0].children
    caption, picture = explorer.children[1:]
    before = picture.value
    alpha.value = 0.2
    temperature.value = 2.0
    parts = widgets.distill.loss_breakdown(student, teacher, labels, 2.0, 0.2)
    assert picture.value != before and widgets.plots.loss_breakdown_title(parts) in caption.value
    limits = widgets.loss_limits(student, teacher, labels, [0.5 * i for i in range(1, 41)])
    fresh = widgets.plots.LossBreakdownFigure().update(parts, titled=False, limits=limits).figure
    assert same_picture(picture.value, widgets.plots.to_png(fresh))
    assert parts.total == pytest.approx(widgets.distill.distillation_loss(student, teacher, labels, 2.0, 0.2).item(),
                                           rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        widgets.loss_explorer(student, teacher[:, :5], labels)


def test_a_slider_computes_on_one_thread_and_gives_the_others_back():
    generator = torch.Generator().manual_seed(4)
    explorer = widgets.loss_explorer(torch.randn(32, 10, generator=generator), torch.randn(32, 10, generator=generator),
                                     torch.randint(0, 10, (32,), generator=generator))
    threads, seen = torch.get_num_threads(), []
    original = widgets.distill.loss_breakdown
    widgets.distill.loss_breakdown = lambda *a: seen.append(torch.get_num_threads()) or original(*a)
    try:
        explorer.children[0].children[0].value = 3.0
    finally:
        widgets.distill.loss_breakdown = original
    assert seen == [1] and torch.get_num_threads() == threads


def test_the_loss_axes_reach_every_value_the_sliders_can_show():
    generator = torch.Generator().manual_seed(2)
    student, teacher = torch.randn(64, 10, generator=generator), torch.randn(64, 10, generator=generator) * 4
    labels = torch.randint(0, 10, (64,), generator=generator)
    grid = [0.5 * i for i in range(1, 41)]
    loss_top, grad_top = widgets.loss_limits(student, teacher, labels, grid)
    shown = [widgets.distill.loss_breakdown(student, teacher, labels, T, alpha)
             for T in grid[::3] for alpha in (0.0, 0.3, 0.65, 1.0)]
    assert max(max(p.soft, p.hard) for p in shown) == pytest.approx(loss_top)
    assert max(max(p.soft_grad, p.hard_grad, p.soft_grad_without_T2) for p in shown) <= grad_top * (1 + 1e-6)


def test_convolution_explorer_redraws_with_the_sliders(monkeypatch):
    explorer = widgets.convolution_explorer()
    names = [c.description for c in explorer.children[:5]]
    assert names == ["input channels M", "output channels N", "kernel size Dk", "map size Df", "squeeze width"]
    drawn = []
    original = widgets.convolution_view
    monkeypatch.setattr(widgets, "convolution_view", lambda *args: drawn.append(args) or original(*args))
    explorer.children[0].value = 64
    explorer.children[2].value = 5
    assert drawn == [(64, 64, 3, 14, 8), (64, 64, 5, 14, 8)]
    assert explorer.children[-1].value == widgets.plots.to_png(original(64, 64, 5, 14, 8))
    kernel = explorer.children[2]
    assert (kernel.min, kernel.max, kernel.step) == (1, 7, 2)


def test_convolution_view_states_the_separable_ratio():
    fig = widgets.convolution_view(32, 64, 3, 14, 8)
    assert "1/N + 1/Dk² = 0.127" in fig._suptitle.get_text()
    plt.close("all")


@pytest.mark.parametrize("arguments, message", [
    (dict(in_channels=0), "in_channels must be a positive integer"),
    (dict(kernel_size=4), "kernel_size must be odd"),
    (dict(out_channels=1), "out_channels must be at least 2"),
    (dict(size=500), "size 1..112"),
])
def test_convolution_explorer_names_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        widgets.convolution_explorer(**arguments)


def test_sparsity_explorer_moves_the_threshold(any_style):
    weights = torch.linspace(-1, 1, 2001)
    curve = [{"sparsity": s, "accuracy": 0.9 - s / 2} for s in (0.0, 0.5, 0.9)]
    explorer = widgets.sparsity_explorer(weights, curve)
    slider, picture = explorer.children
    assert slider.max == 0.9 and slider.value == 0.5
    first = picture.value
    slider.value = 0.8
    assert picture.value != first and same_picture(picture.value, widgets.plots.to_png(widgets.sparsity_view(weights, curve, 0.8)))
    fig = widgets.sparsity_view(weights, curve, 0.8)
    assert "80 %" in fig._suptitle.get_text() and "0.8" in fig.axes[0].get_title()
    with pytest.raises(ValueError, match=r"sparsity must be a fraction in \[0, 1\)"):
        widgets.sparsity_explorer(weights, curve, sparsity=1.5)
    with pytest.raises(ValueError, match="curve must hold measured rows"):
        widgets.sparsity_explorer(weights, [])


def test_bits_explorer_redraws_for_depth_and_scheme(any_style):
    weights = torch.randn(3000, generator=torch.Generator().manual_seed(0))
    curve = [{"bits": b, "accuracy": 0.9} for b in range(1, 9)]
    explorer = widgets.bits_explorer(weights, curve)
    (depth, scheme), picture = explorer.children[0].children, explorer.children[1]
    first = picture.value
    depth.value = 2
    second = picture.value
    scheme.value = False
    assert len({first, second, picture.value}) == 3
    assert same_picture(picture.value, widgets.plots.to_png(widgets.bits_view(weights, 2, False, curve)))
    for bits in range(1, 9):  # the measured accuracy is marked at every depth of the curve
        depth.value = bits
        marker = explorer_figure_marker(widgets.bits_view(weights, bits, False, curve))
        assert marker == [[bits, 90.0]]
    fig = widgets.bits_view(weights, 2, symmetric=False)
    assert "2-bit asymmetric" in fig._suptitle.get_text() and len(fig.axes[0].collections[-1].get_segments()) == 4
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 16"):
        widgets.bits_explorer(weights, curve, bits=0)


def test_temperature_explorer_opens_on_the_image_asked_for():
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(50) % 10
    images = torch.randint(0, 256, (50, 28, 28), dtype=torch.uint8, generator=generator)
    logits = torch.randn(50, 10, generator=generator)
    explorer = widgets.temperature_explorer(images, labels, logits, CLASSES["mnist"], index=23)
    label, example = explorer.children[0], explorer.children[1].children[0]
    assert (label.value, example.value) == (3, 2)  # image 23 is the third of class 3
    with pytest.raises(ValueError, match="index must be an image's position, 0..49"):
        widgets.temperature_explorer(images, labels, logits, CLASSES["mnist"], index=50)


def explorer_figure_marker(fig):
    return fig.axes[1].lines[-1].get_xydata().tolist()
