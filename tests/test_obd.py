"""kdviz.obd: each Hessian diagonal against the exact one on tiny nets; saliency; the trained-model check."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from conftest import striped_images
from kdviz import data, models, obd, train


@pytest.fixture(scope="module")
def tiny():
    """A trained tanh net (the exact diagonal differs from Gauss-Newton) and its training images."""
    images, labels = striped_images(300, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 6), nn.Tanh(), nn.Linear(6, 10))
    train.fit(model, (images, labels), epochs=20, lr=0.1, progress=False)
    return model.eval(), images, labels


def _flat(diagonal):
    return torch.cat([d.flatten() for d in diagonal.values()])


def test_exact_diagonal_matches_the_full_hessian_by_autograd(tiny):
    model, images, labels = tiny
    x = data.normalize(images)
    params = list(model.parameters())
    flat = torch.cat([p.detach().flatten() for p in params])

    def loss(vector):
        chunks = vector.split([p.numel() for p in params])
        h = nn.functional.avg_pool2d(x, 4).flatten(1)
        h = torch.tanh(h @ chunks[0].view(6, 49).T + chunks[1])
        return nn.functional.cross_entropy(h @ chunks[2].view(10, 6).T + chunks[3], labels)

    expected = torch.autograd.functional.hessian(loss, flat).diagonal()
    assert torch.allclose(_flat(obd.exact_diagonal(model, images, labels)), expected, rtol=1e-4, atol=1e-7)


def test_gauss_newton_equals_the_exact_diagonal_for_a_net_linear_in_each_weight():
    # with ReLU the logits are linear in each single weight, so the Hessian's diagonal has no second term
    images, labels = striped_images(200, seed=2)
    torch.manual_seed(1)
    model = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, 5), nn.ReLU(), nn.Linear(5, 10))
    exact = _flat(obd.exact_diagonal(model, images, labels))
    gauss_newton = _flat(obd.gauss_newton_diagonal(model, images, labels, labels_from="all", progress=False))
    assert torch.allclose(gauss_newton, exact, rtol=1e-3, atol=1e-7)


def test_the_approximations_track_the_exact_diagonal(tiny):
    model, images, labels = tiny
    exact = _flat(obd.exact_diagonal(model, images, labels))

    def correlation(estimate):
        return float(torch.corrcoef(torch.stack([exact, _flat(estimate)]))[0, 1])

    assert correlation(obd.gauss_newton_diagonal(model, images, labels, labels_from="all", progress=False)) > 0.9
    few = correlation(obd.hutchinson_diagonal(model, images, labels, probes=5, progress=False))
    many = correlation(obd.hutchinson_diagonal(model, images, labels, probes=500, progress=False))
    assert many > 0.95 and many > few


def test_empirical_fisher_is_the_mean_squared_per_sample_gradient(tiny):
    model, images, labels = tiny
    images, labels = images[:20], labels[:20]
    expected = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(20):
        model.zero_grad()
        nn.functional.cross_entropy(model(data.normalize(images[i:i + 1])), labels[i:i + 1]).backward()
        for e, p in zip(expected, model.parameters()):
            e += p.grad ** 2 / 20
    got = obd.gauss_newton_diagonal(model, images, labels, labels_from="data", batch_size=7, progress=False)
    assert all(torch.allclose(g, e, rtol=1e-4, atol=1e-9) for g, e in zip(got.values(), expected))


def test_saliency_is_half_h_w_squared_and_predicts_small_deletions(tiny):
    model, images, labels = tiny
    diagonal = obd.exact_diagonal(model, images, labels)
    scores = obd.saliency(model, diagonal)
    assert list(scores) == ["2", "4"]
    assert torch.allclose(scores["2"], diagonal["2.weight"] * model[2].weight.detach() ** 2 / 2)
    rows = obd.predicted_against_actual(model, scores, [0.05, 0.5], images, labels)
    assert rows[0]["deleted"] == round(0.05 * (6 * 49 + 10 * 6))
    assert rows[0]["predicted"] == pytest.approx(rows[0]["actual"], rel=0.5, abs=1e-3)
    assert rows[1]["actual"] > rows[0]["actual"]


def test_bad_input_is_named(tiny):
    model, images, labels = tiny
    untrained = models.build("tiny_mlp")
    with pytest.raises(ValueError, match="must be trained"):
        obd.obd_saliency(untrained, images, labels)
    with pytest.raises(ValueError, match="at most 5,000 parameters"):
        obd.exact_diagonal(models.build("mlp"), images, labels)
    with pytest.raises(ValueError, match="method must be one of"):
        obd.hessian_diagonal(model, images, labels, method="newton")
    with pytest.raises(ValueError, match="probes must be a positive integer"):
        obd.hutchinson_diagonal(model, images, labels, probes=0)
    with pytest.raises(ValueError, match="equal length"):
        obd.mean_loss(model, images, labels[:3])
    assert len(obd.obd_saliency(model, images, labels, method="exact")) == 2


def test_deleting_by_magnitude_costs_more_than_obd_predicts_for_its_own_choice(tiny):
    model, images, labels = tiny
    scores = obd.saliency(model, obd.exact_diagonal(model, images, labels))
    magnitude = {name: layer.weight.detach().abs() for name, layer in models.prunable_layers(model).items()}
    by_obd = obd.predicted_against_actual(model, scores, [0.4], images, labels)[0]
    by_magnitude = obd.predicted_against_actual(model, scores, [0.4], images, labels, order_by=magnitude)[0]
    assert by_magnitude["predicted"] > by_obd["predicted"]  # OBD deletes what it predicts is cheapest
    assert by_magnitude["actual"] > by_obd["actual"]


def test_hutchinson_converges_and_its_negative_estimates_vanish(tiny):
    model, images, labels = tiny
    exact = obd.exact_diagonal(model, images, labels)
    rows = obd.hutchinson_convergence(model, images, labels, exact, probes=(1, 16, 256))
    errors = [r["relative_error"] for r in rows]
    assert errors[0] > errors[1] > errors[2] and errors[2] < 0.3
    assert rows[0]["negative"] > rows[2]["negative"]
