"""kdviz.quantize: the hand-written quantizer against torch's observers and fake-quantize operators."""
from __future__ import annotations

import pytest
import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

from kdviz import models
from kdviz import quantize as q


@pytest.mark.parametrize("bits", [2, 4, 8])
@pytest.mark.parametrize("symmetric", [False, True])
def test_qparams_match_torchs_min_max_observer(bits, symmetric):
    x = torch.randn(500, generator=torch.Generator().manual_seed(bits)) * 3 + 0.5
    qmin, qmax = q.integer_range(bits, symmetric)
    observer = MinMaxObserver(quant_min=qmin, quant_max=qmax, dtype=torch.qint8 if symmetric else torch.quint8,
                              qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    observer(x)
    scale, zero_point = observer.calculate_qparams()
    params = q.choose_qparams(x, bits, symmetric)
    assert float(params.scale) == pytest.approx(float(scale), rel=1e-6)
    assert int(params.zero_point) == int(zero_point)


@pytest.mark.parametrize("bits", [1, 3, 8])
@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantize_matches_torch_per_tensor(bits, symmetric):
    x = torch.randn(1000, generator=torch.Generator().manual_seed(0)) * 2 - 0.3
    params = q.choose_qparams(x, bits, symmetric)
    expected = torch.fake_quantize_per_tensor_affine(x, float(params.scale), int(params.zero_point),
                                                     params.qmin, params.qmax)
    assert torch.allclose(q.fake_quantize(x, bits, symmetric), expected, atol=1e-6)


@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantize_matches_torch_per_channel(symmetric):
    weight = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(1)) * torch.arange(1, 7).view(6, 1, 1, 1)
    params = q.choose_qparams(weight, 4, symmetric, axis=0)
    expected = torch.fake_quantize_per_channel_affine(weight, params.scale, params.zero_point.int(), 0,
                                                      params.qmin, params.qmax)
    assert torch.allclose(q.fake_quantize(weight, 4, symmetric, axis=0), expected, atol=1e-6)
    observer = PerChannelMinMaxObserver(ch_axis=0, quant_min=params.qmin, quant_max=params.qmax,
                                        dtype=torch.qint8 if symmetric else torch.quint8,
                                        qscheme=torch.per_channel_symmetric if symmetric else torch.per_channel_affine)
    observer(weight)
    scale, zero_point = observer.calculate_qparams()
    assert torch.allclose(params.scale, scale) and torch.equal(params.zero_point, zero_point.long())


def test_round_trip_error_is_within_half_a_step_and_zero_is_exact():
    x = torch.linspace(-1.0, 3.0, 101)
    params = q.choose_qparams(x, 6)
    codes = q.quantize(x, params)
    assert codes.min() >= 0 and codes.max() <= 63
    assert (q.dequantize(codes, params) - x).abs().max() <= float(params.scale) / 2 + 1e-6
    assert float(q.dequantize(q.quantize(torch.zeros(1), params), params)) == 0.0
    assert len(q.levels(params)) == 64


def test_more_bits_mean_less_error():
    x = torch.randn(10_000, generator=torch.Generator().manual_seed(2))
    sqnr = [q.error(x, q.fake_quantize(x, bits))["sqnr_db"] for bits in (2, 4, 8)]
    assert sqnr[0] < sqnr[1] < sqnr[2]
    assert sqnr[2] - sqnr[1] == pytest.approx(4 * 6.02, abs=3)  # about 6 dB per bit


def test_per_channel_beats_per_tensor_when_channels_differ_in_scale():
    weight = torch.randn(8, 50, generator=torch.Generator().manual_seed(3)) * torch.logspace(-2, 0, 8).view(8, 1)
    per_tensor = q.error(weight, q.fake_quantize(weight, 4, symmetric=True))["mse"]
    per_channel = q.error(weight, q.fake_quantize(weight, 4, symmetric=True, axis=0))["mse"]
    assert per_channel < per_tensor / 2


@pytest.mark.parametrize("call, message", [
    (lambda: q.choose_qparams(torch.ones(3), bits=0), "bits must be an integer from 1 to 16, got 0"),
    (lambda: q.choose_qparams(torch.ones(3), bits=17), "bits must be an integer from 1 to 16, got 17"),
    (lambda: q.choose_qparams(torch.ones(3), bits=4.5), "bits must be an integer"),
    (lambda: q.choose_qparams(torch.empty(0)), "non-empty"),
    (lambda: q.choose_qparams(torch.tensor([1.0, float("nan")])), "finite"),
    (lambda: q.choose_qparams(torch.ones(2, 3), axis=2), "axis must be a dimension"),
    (lambda: q.quantize(torch.ones(3), q.QParams(torch.tensor(0.0), torch.tensor(0), 0, 255)), "scale must be positive"),
    (lambda: q.quantize(torch.ones(3), q.QParams(torch.tensor(-1.0), torch.tensor(0), 0, 255)), "scale must be positive"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_straight_through_gradient_is_the_identity():
    x = torch.randn(20, requires_grad=True)
    y = q.fake_quantize_ste(x, 3)
    assert torch.allclose(y, q.fake_quantize(x.detach(), 3, symmetric=True))
    (y * torch.arange(20.0)).sum().backward()
    assert torch.equal(x.grad, torch.arange(20.0))


def test_quantize_weights_puts_every_weight_on_its_grid_and_leaves_the_rest():
    torch.manual_seed(0)
    model = models.build("teacher", width=4, hidden=16)
    quantized = q.quantize_weights(model, bits=3)
    for original, layer in zip(q._weighted_layers(model), q._weighted_layers(quantized)):
        per_channel = layer.weight.detach().flatten(1)
        assert all(len(torch.unique(row)) <= 8 for row in per_channel)
        assert torch.equal(layer.weight, q.fake_quantize(original.weight.detach(), 3, True, 0))
    assert torch.equal(quantized[1].weight, model[1].weight)  # batch norm untouched
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 16"):
        q.quantize_weights(model, bits=0)
    with pytest.raises(ValueError, match="must contain Conv2d or Linear"):
        q.quantize_weights(torch.nn.ReLU(), bits=4)


def test_qat_trains_through_the_grid_and_finishes_quantized():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    trainable = q.prepare_qat(model, bits=2)
    optimizer = torch.optim.SGD(trainable.parameters(), lr=0.1)
    before = trainable[0].parametrizations.weight.original.detach().clone()
    loss = trainable(torch.randn(8, 4)).pow(2).sum()
    loss.backward()
    optimizer.step()
    assert not torch.equal(trainable[0].parametrizations.weight.original, before)  # the float weights learn
    finished = q.finish_qat(trainable)
    assert all(len(torch.unique(row)) <= 4 for row in finished[0].weight.detach())
    assert "parametrizations" not in dict(finished[0].named_children())
