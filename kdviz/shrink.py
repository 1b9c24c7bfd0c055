"""Pruning that really shrinks bytes and milliseconds: sparse storage of pruned weights, a sparse linear layer,
and structured (channel) pruning that builds a smaller dense model (introduced in 02)."""
from __future__ import annotations

import copy
import io
import warnings

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from kdviz import measure, prune


def _to_csr(matrix: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():  # "sparse CSR support is in beta": true, and not the learner's concern
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return matrix.to_sparse_csr()


def _csr(weight: torch.Tensor) -> torch.Tensor:
    """A weight as a 2-D CSR matrix (convolutions flattened per output channel) with int32 indices."""
    matrix = _to_csr(weight.detach().reshape(weight.shape[0], -1))
    return torch.sparse_csr_tensor(matrix.crow_indices().int(), matrix.col_indices().int(), matrix.values(),
                                   matrix.shape, check_invariants=True)


def sparse_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict with every prunable weight stored as CSR (values plus int32 column indices and row
    pointers): what a pruned model costs on disk when its zeros are not written. Masks are folded in first."""
    dense = prune.make_permanent(measure.copy_model(model))
    state = dense.state_dict()
    for name in prune.prunable_layers(dense):
        key = f"{name}.weight" if name else "weight"
        state[key] = _csr(state[key])
    return state


def sparse_bytes(model: nn.Module) -> int:
    """Bytes of :func:`sparse_state_dict` as ``torch.save`` writes it."""
    buffer = io.BytesIO()
    torch.save(sparse_state_dict(model), buffer)
    return buffer.getbuffer().nbytes


def load_sparse_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> nn.Module:
    """Load a :func:`sparse_state_dict` back into a dense model of the same architecture (in place)."""
    dense = {key: value.to_dense().reshape(model.state_dict()[key].shape) if value.layout == torch.sparse_csr else value
             for key, value in state.items()}
    model.load_state_dict(dense)
    return model


class SparseLinear(nn.Module):
    """A linear layer whose weight is a CSR matrix: y = W x + b computed by ``torch.sparse.mm``, skipping zeros."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.weight = nn.Parameter(_to_csr(linear.weight.detach()), requires_grad=False)
        self.bias = nn.Parameter(linear.bias.detach().clone(), requires_grad=False) if linear.bias is not None else None

    def __deepcopy__(self, memo) -> "SparseLinear":  # sparse CSR tensors cannot be deep-copied directly
        dense = nn.Linear(self.weight.shape[1], self.weight.shape[0], bias=self.bias is not None)
        with torch.no_grad():
            dense.weight.copy_(self.weight.to_dense())
            if self.bias is not None:
                dense.bias.copy_(self.bias)
        return SparseLinear(dense)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sparse.mm(self.weight, x.T).T  # (B, out)
        return y + self.bias if self.bias is not None else y


def with_sparse_linears(model: nn.Module) -> nn.Module:
    """A copy of a pruned model whose Linear layers compute with CSR weights (for timing sparse inference)."""
    result = prune.make_permanent(measure.copy_model(model))
    for name, module in list(result.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, child_name, SparseLinear(child))
    return result


_SUPPORTED = (nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, nn.Dropout, nn.Linear)


def channel_prune(model: nn.Sequential, amount: float) -> nn.Sequential:
    """A smaller dense copy of a plain sequential CNN (like the teacher) without the ``amount`` fraction of the
    channels (and hidden units) with the smallest L1 norm in every layer but the output layer.

    torch.nn.utils.prune.ln_structured picks the channels; the layers are then rebuilt without them: the batch
    norm that follows and the next layer's inputs lose them too.
    """
    prune.check_amount(amount)
    if not isinstance(model, nn.Sequential) or not all(isinstance(m, _SUPPORTED) for m in model):
        raise ValueError("model must be an nn.Sequential of Conv2d, BatchNorm2d, ReLU, MaxPool2d, Flatten, Dropout and "
                         "Linear layers, like the teacher")
    layers = list(measure.copy_model(model))
    weighted = [i for i, m in enumerate(layers) if isinstance(m, (nn.Conv2d, nn.Linear))]
    if any(layers[i].groups != 1 for i in weighted if isinstance(layers[i], nn.Conv2d)):
        raise ValueError("model must use standard convolutions (groups=1) for channel pruning")
    kept, outputs_before = None, None
    for position, i in enumerate(weighted):
        layer = layers[i]
        last = position == len(weighted) - 1  # the output layer keeps all its classes
        strongest = None if last else _strongest_outputs(layer, amount, name=str(i))  # ranked in the original
        if kept is not None:
            _keep_inputs(layer, kept, outputs_before)
        if last:
            break
        outputs_before, kept = layer.weight.shape[0], strongest
        _keep_outputs(layer, kept)
        following = layers[i + 1] if i + 1 < len(layers) else None
        if isinstance(following, nn.BatchNorm2d):
            _keep_batch_norm(following, kept)
    return nn.Sequential(*layers)


def _strongest_outputs(layer: nn.Module, amount: float, name: str) -> torch.Tensor:
    probe = copy.deepcopy(layer)
    torch_prune.ln_structured(probe, "weight", amount=amount, n=1, dim=0)
    kept = probe.weight_mask.reshape(probe.weight_mask.shape[0], -1).any(1).nonzero().flatten()
    if len(kept) == 0:
        raise ValueError(f"amount {amount} leaves no channel in layer {name}; use a smaller amount")
    return kept


def _keep_outputs(layer: nn.Module, kept: torch.Tensor) -> None:
    layer.weight = nn.Parameter(layer.weight.detach()[kept].clone())
    if layer.bias is not None:
        layer.bias = nn.Parameter(layer.bias.detach()[kept].clone())
    if isinstance(layer, nn.Conv2d):
        layer.out_channels = len(kept)
    else:
        layer.out_features = len(kept)


def _keep_inputs(layer: nn.Module, kept: torch.Tensor, outputs_before: int) -> None:
    if isinstance(layer, nn.Conv2d):
        layer.weight = nn.Parameter(layer.weight.detach()[:, kept].clone())
        layer.in_channels = len(kept)
        return
    per_channel = layer.in_features // outputs_before  # a Linear after Flatten sees H x W inputs per channel
    columns = (kept[:, None] * per_channel + torch.arange(per_channel)).flatten()
    layer.weight = nn.Parameter(layer.weight.detach()[:, columns].clone())
    layer.in_features = len(columns)


def _keep_batch_norm(norm: nn.BatchNorm2d, kept: torch.Tensor) -> None:
    norm.weight = nn.Parameter(norm.weight.detach()[kept].clone())
    norm.bias = nn.Parameter(norm.bias.detach()[kept].clone())
    norm.running_mean = norm.running_mean[kept].clone()
    norm.running_var = norm.running_var[kept].clone()
    norm.num_features = len(kept)
