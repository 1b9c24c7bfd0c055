"""kdviz.sparse and kdviz.channel_pruning: sparse storage round-trips and is smaller; sparse linear layers compute
the same; channel pruning builds a smaller model equal to the original with those channels switched off."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from kdviz import channel_pruning, measure, models, prune, sparse


def _pruned_teacher(amount=0.9):
    torch.manual_seed(0)
    return prune.prune_model(models.build("teacher", width=8, hidden=32).eval(), amount)


def test_sparse_storage_round_trips_and_is_smaller_than_dense():
    pruned = _pruned_teacher()
    dense = prune.make_permanent(pruned)
    state = sparse.sparse_state_dict(dense)
    assert state["16.weight"].layout == torch.sparse_csr and state["16.weight"].col_indices().dtype == torch.int32
    restored = sparse.load_sparse_state_dict(models.build("teacher", width=8, hidden=32), state)
    assert all(torch.equal(value, dense.state_dict()[key]) for key, value in restored.state_dict().items())
    assert sparse.sparse_bytes(dense) < 0.4 * measure.serialized_bytes(dense)


def test_masks_alone_make_the_file_larger_not_smaller():
    torch.manual_seed(0)
    model = models.build("teacher", width=8, hidden=32)
    masked = prune.prune_model(model, 0.9)  # weight_orig and weight_mask: two dense tensors per layer
    assert measure.serialized_bytes(masked) > 1.8 * measure.serialized_bytes(model)


def test_sparse_linears_compute_the_same_outputs():
    pruned = _pruned_teacher().eval()
    with_csr = sparse.with_sparse_linears(pruned).eval()
    assert isinstance(with_csr[16], sparse.SparseLinear)
    x = torch.randn(5, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(with_csr(x), pruned(x), atol=1e-5)
        assert torch.allclose(copy.deepcopy(with_csr)(x), pruned(x), atol=1e-5)  # latency_ms copies the model


def test_channel_pruning_equals_switching_those_channels_off():
    torch.manual_seed(0)
    model = models.build("teacher", width=8, hidden=32).eval()
    for m in model.modules():  # non-trivial batch-norm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    smaller = channel_pruning.channel_prune(model, 0.5).eval()
    assert [m.out_channels for m in smaller if isinstance(m, nn.Conv2d)] == [4, 4, 8, 8]
    assert smaller[16].in_features == 8 * 49 and smaller[16].out_features == 16 and smaller[19].out_features == 10
    assert measure.count_parameters(smaller) < 0.3 * measure.count_parameters(model)
    # the original, with the dropped channels zeroed after each ReLU, computes exactly the same function
    norms = {i: m.weight.detach().abs().reshape(m.weight.shape[0], -1).sum(1) for i, m in enumerate(model)
             if isinstance(m, (nn.Conv2d, nn.Linear))}
    hooks = []
    for i, relu in enumerate(model):
        if isinstance(relu, nn.ReLU):
            source = max(j for j in norms if j < i)
            keep = torch.zeros_like(norms[source], dtype=torch.bool)
            keep[norms[source].topk(len(norms[source]) // 2).indices] = True
            shape = (1, -1, 1, 1) if isinstance(model[source], nn.Conv2d) else (1, -1)
            hooks.append(relu.register_forward_hook(lambda mod, inp, out, k=keep, s=shape: out * k.view(s)))
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        expected = model(x)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        assert torch.allclose(smaller(x), expected, atol=1e-5)


@pytest.mark.parametrize("model, amount, message", [
    (nn.Sequential(nn.Conv2d(1, 4, 3), nn.GELU()), 0.5, "nn.Sequential of Conv2d"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=4), nn.Conv2d(4, 2, 1)), 0.5, "groups=1"),
    (nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)), 1.2, r"amount must be a fraction in \[0, 1\)"),
    (nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 2)), 0.9, "leaves no channel in layer 0"),
])
def test_bad_input_is_named(model, amount, message):
    with pytest.raises(ValueError, match=message):
        channel_pruning.channel_prune(model, amount)
