"""kdviz.calibration: activation samples, calibration methods, activation fake quantization."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import striped_images
from kdviz import calibration, models, quantize, train


def test_functions_have_their_known_ranges():
    x = torch.linspace(-10, 10, 2001)
    ranges = {name: (float(f(x).min()), float(f(x).max())) for name, f in calibration.FUNCTIONS.items()}
    assert ranges["ReLU6"] == (0.0, 6.0) and ranges["ReLU"] == (0.0, 10.0)
    assert 0.0 <= ranges["sigmoid"][0] and ranges["sigmoid"][1] <= 1.0 and ranges["tanh"] == (-1.0, 1.0)
    assert ranges["leaky ReLU"][0] == pytest.approx(-0.1) and ranges["ELU"][0] > -1.0
    assert ranges["maxout (2 pieces)"] == (-3.0, 10.0)  # max(x, x / 4 - 1 / 2): unbounded, like ReLU


def test_activation_samples_come_from_every_relu():
    images, _ = striped_images(64)
    model = models.build("teacher", width=4, hidden=16)
    samples = calibration.activation_samples(model, images, per_layer=500)
    assert list(samples) == ["2", "5", "9", "12", "17"]
    assert all(len(v) == 500 and v.min() >= 0 for v in samples.values())
    with pytest.raises(ValueError, match="must contain activation layers"):
        calibration.activation_samples(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), images)


def test_clipping_calibrations_trade_outliers_for_resolution():
    values = torch.cat([torch.rand(10_000), torch.tensor([50.0])])  # one outlier far beyond the rest
    minmax = calibration.calibrate(values, 4, "minmax")
    percentile = calibration.calibrate(values, 4, "percentile", percentile=99.9)
    best = calibration.calibrate(values, 4, "mse")
    assert float(minmax.scale) == pytest.approx(50.0 / 15)
    assert float(percentile.scale) < float(minmax.scale) / 10

    def mse(params):
        return float((quantize.dequantize(quantize.quantize(values, params), params) - values).pow(2).mean())

    assert mse(best) <= mse(percentile) + 1e-9 and mse(best) < mse(minmax)


@pytest.mark.parametrize("call, message", [
    (lambda: calibration.calibrate(torch.ones(3), method="entropy"), "method must be one of"),
    (lambda: calibration.calibrate(torch.ones(3), bits=0), "bits must be an integer from 1 to 16"),
    (lambda: calibration.calibrate(torch.ones(3), method="percentile", percentile=0), "percentile must be a number in"),
    (lambda: calibration.calibrate(torch.ones(0)), "values must be a non-empty tensor"),
])
def test_bad_calibration_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_activation_quantization_costs_accuracy_only_at_few_bits():
    images, labels = striped_images(300)
    torch.manual_seed(0)
    model = models.build("teacher", width=8, hidden=32)
    train.fit(model, (images, labels), epochs=2, lr=0.05, progress=False)
    base = train.evaluate(model, images, labels).accuracy
    eight = train.evaluate(calibration.quantize_activations(model, images[:100], 8), images, labels).accuracy
    one = calibration.quantize_activations(model, images[:100], 1)
    assert eight == pytest.approx(base, abs=0.02)
    with torch.no_grad():
        outputs = [one[2](one[1](one[0](images[:2].float().unsqueeze(1))))]
    assert len(torch.unique(outputs[0])) <= 2  # a 1-bit ReLU output has two levels


def test_maxout_keeps_the_largest_of_each_group_of_pieces():
    x = torch.randn(5, 12)
    expected = torch.stack([x[:, 3 * i:3 * i + 3].max(dim=1).values for i in range(4)], dim=1)
    assert torch.equal(calibration.Maxout(3)(x), expected)
    with pytest.raises(ValueError, match="pieces must be an integer of at least 2"):
        calibration.Maxout(1)


@pytest.mark.parametrize("function", list(calibration.ACTIVATION_LAYERS))
def test_activation_nets_differ_only_in_their_function(function):
    net = calibration.activation_net(function, hidden=32)
    assert net(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    pieces = 2 if function.startswith("maxout") else 1
    assert [m.out_features for m in net if isinstance(m, nn.Linear)] == [32 * pieces, 32 * pieces, 10]
    activations = [m for m in net if isinstance(m, tuple(calibration.ACTIVATION_LAYERS.values()))]
    assert len(activations) == 2 and all(isinstance(m, calibration.ACTIVATION_LAYERS[function]) for m in activations)
    samples = calibration.activation_samples(net, torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8))
    assert len(samples) == 2  # both activation layers are observed, whatever the function
    if function in ("sigmoid", "tanh", "ReLU6"):
        low, high = {"sigmoid": (0, 1), "tanh": (-1, 1), "ReLU6": (0, 6)}[function]
        assert all(low <= float(v.min()) and float(v.max()) <= high for v in samples.values())


def test_activation_net_bad_input_is_named():
    with pytest.raises(ValueError, match="function must be one of"):
        calibration.activation_net("swish")
    with pytest.raises(ValueError, match="hidden must be a positive integer"):
        calibration.activation_net("ReLU", hidden=0)
    with pytest.raises(ValueError, match="model must contain activation layers"):
        calibration.activation_samples(nn.Linear(784, 10), torch.zeros(2, 28, 28, dtype=torch.uint8))


def test_maxout_names_a_width_its_pieces_do_not_divide():
    with pytest.raises(ValueError, match="a multiple of 2 features"):
        calibration.Maxout(2)(torch.zeros(3, 5))
