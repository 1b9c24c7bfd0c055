"""Sparse storage of pruned weights (CSR) and a sparse linear layer: unstructured pruning that shrinks the file
(introduced in 02)."""
from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from kdviz import models, prune


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
    dense = prune.make_permanent(models.copy_model(model))
    state = dense.state_dict()
    for name in models.prunable_layers(dense):
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

    def __deepcopy__(self, memo: dict) -> SparseLinear:  # sparse CSR tensors cannot be deep-copied directly
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
    result = prune.make_permanent(models.copy_model(model))
    models.replace_layers(result, nn.Linear, SparseLinear)
    return result
