"""kdviz.weight_sharing: 1-D k-means checked against scikit-learn's, and the shared layer's codebook gradient
against the dense layer's gradient summed by cluster."""
from __future__ import annotations

import pytest
import torch
from sklearn.cluster import KMeans
from torch import nn

from kdviz import weight_sharing


def test_kmeans_matches_scikit_learn_from_the_same_linear_start():
    values = torch.randn(2000, generator=torch.Generator().manual_seed(0)) * 0.1
    centroids, assignment = weight_sharing.kmeans_1d(values, 8, iterations=300)
    start = torch.linspace(float(values.min()), float(values.max()), 8).double().numpy()[:, None]
    reference = KMeans(8, init=start, n_init=1, max_iter=300, tol=0.0, algorithm="lloyd").fit(values.double().numpy()[:, None])
    assert torch.allclose(centroids.double(), torch.from_numpy(reference.cluster_centers_[:, 0]), atol=1e-6)
    assert torch.equal(assignment, torch.from_numpy(reference.labels_).long())


def test_each_value_goes_to_its_nearest_centroid():
    values = torch.tensor([-1.0, -0.9, 0.0, 0.05, 2.0])
    centroids, assignment = weight_sharing.kmeans_1d(values, 3)
    assert torch.allclose(centroids, torch.tensor([-0.95, 0.025, 2.0]))
    assert assignment.tolist() == [0, 0, 1, 1, 2]


def _pruned_linear(seed=0):
    layer = nn.Linear(20, 6)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        layer.weight.mul_((torch.rand(layer.weight.shape, generator=generator) > 0.6).float())
    return layer


def test_a_shared_layer_keeps_the_zeros_and_at_most_2_to_the_bits_values():
    layer = _pruned_linear()
    shared = weight_sharing.SharedLinear.from_linear(layer, 2)
    assert torch.equal(shared.weight == 0, layer.weight == 0)
    assert len(torch.unique(shared.weight[shared.mask])) <= 4
    assert shared.bits == 2
    x = torch.randn(3, 20)
    assert torch.allclose(shared(x), nn.functional.linear(x, shared.weight, layer.bias))


def test_the_codebook_gradient_is_the_dense_gradient_summed_by_cluster():
    shared = weight_sharing.SharedLinear.from_linear(_pruned_linear(1), 3)
    dense = nn.Linear(20, 6)
    with torch.no_grad():
        dense.weight.copy_(shared.weight)
        dense.bias.copy_(shared.bias)
    x = torch.randn(5, 20)
    (shared(x) ** 2).sum().backward()
    (dense(x) ** 2).sum().backward()
    expected = torch.stack([dense.weight.grad[shared.mask & (shared.index == k)].sum() for k in range(8)])
    assert torch.allclose(shared.codebook.grad, expected, atol=1e-5)


def test_share_weights_and_back():
    model = nn.Sequential(nn.Flatten(), _pruned_linear(2), nn.ReLU(), nn.Linear(6, 3))
    shared = weight_sharing.share_weights(model, 4)
    assert sum(isinstance(m, weight_sharing.SharedLinear) for m in shared.modules()) == 2
    plain = weight_sharing.to_linear(shared)
    x = torch.randn(4, 20)
    assert torch.allclose(plain(x), shared(x))
    assert isinstance(model[1], nn.Linear)  # the original is untouched


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="clusters must be a positive integer"):
        weight_sharing.kmeans_1d(torch.ones(3), 0)
    with pytest.raises(ValueError, match="non-empty tensor of finite"):
        weight_sharing.kmeans_1d(torch.tensor([float("nan")]), 2)
    with pytest.raises(ValueError, match="no nonzero weight"):
        weight_sharing.SharedLinear.from_linear(nn.Linear(2, 2).requires_grad_(False).apply(
            lambda m: m.weight.zero_() if isinstance(m, nn.Linear) else None), 2)
    with pytest.raises(ValueError, match="no Linear layer"):
        weight_sharing.share_weights(nn.Sequential(nn.ReLU()), 2)
    with pytest.raises(ValueError, match="bits"):
        weight_sharing.SharedLinear.from_linear(_pruned_linear(), 0)
