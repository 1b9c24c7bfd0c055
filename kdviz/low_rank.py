"""Low-rank factorization of a trained layer by truncated SVD (introduced in 01): a Linear layer W becomes two,
x -> (S_r^1/2 V_r^T) x -> (U_r S_r^1/2) . + b, and a convolution becomes a k x k convolution to ``rank`` channels
followed by a 1x1 convolution, the best rank-r approximation of its weight matrix (Eckart-Young)."""
from __future__ import annotations

import torch
from torch import nn

from kdviz.models import copy_model


def validate_rank(rank: int, full: int) -> int:
    """``rank`` as an int in 1..full, or a clear error."""
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= full:
        raise ValueError(f"rank must be an integer from 1 to {full} (the layer's full rank), got {rank!r}")
    return rank


def weight_matrix(layer: nn.Module) -> torch.Tensor:
    """The layer's weight as a matrix, one row per output: (out, in) for a Linear, (out, in * k * k) for a Conv2d."""
    if isinstance(layer, nn.Linear):
        return layer.weight.detach()
    if isinstance(layer, nn.Conv2d) and layer.groups == 1:
        return layer.weight.detach().flatten(1)
    raise ValueError(f"layer must be an nn.Linear or an ungrouped nn.Conv2d, got {type(layer).__name__}")


def singular_values(layer: nn.Module) -> torch.Tensor:
    """The singular values of the layer's weight matrix, largest first."""
    return torch.linalg.svdvals(weight_matrix(layer).double()).float()


def energy_kept(values: torch.Tensor, rank: int) -> float:
    """The share of the weight's squared Frobenius norm that the first ``rank`` singular values hold."""
    squares = values.double() ** 2
    return float(squares[:validate_rank(rank, len(values))].sum() / squares.sum())


def factors(weight: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(first, second) with second @ first the best rank-``rank`` approximation of ``weight`` (out, in): first is
    (rank, in), second (out, rank), each carrying the square root of the singular values."""
    if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
        raise ValueError(f"weight must be a matrix (out, in); got {getattr(weight, 'shape', type(weight).__name__)}")
    u, s, vh = torch.linalg.svd(weight.double(), full_matrices=False)
    validate_rank(rank, len(s))
    root = s[:rank].sqrt()
    return (root[:, None] * vh[:rank]).float(), (u[:, :rank] * root).float()


def factorize(layer: nn.Module, rank: int) -> nn.Sequential:
    """The layer as two layers through ``rank`` channels: Linear(in, rank) then Linear(rank, out), or a Conv2d to
    ``rank`` channels (same kernel, stride, padding) then a 1x1 Conv2d; the bias stays on the second."""
    first, second = factors(weight_matrix(layer), rank)
    if isinstance(layer, nn.Linear):
        narrow, widen = nn.Linear(layer.in_features, rank, bias=False), nn.Linear(rank, layer.out_features,
                                                                                  bias=layer.bias is not None)
        narrow.weight.data.copy_(first)
        widen.weight.data.copy_(second)
    else:
        narrow = nn.Conv2d(layer.in_channels, rank, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                           bias=False, padding_mode=layer.padding_mode)
        widen = nn.Conv2d(rank, layer.out_channels, 1, bias=layer.bias is not None)
        narrow.weight.data.copy_(first.reshape(rank, *layer.weight.shape[1:]))
        widen.weight.data.copy_(second[:, :, None, None])
    if layer.bias is not None:
        widen.bias.data.copy_(layer.bias.detach())
    return nn.Sequential(narrow, widen).to(layer.weight.device)


def low_rank(model: nn.Sequential, ranks: dict[int, int]) -> nn.Sequential:
    """A copy of a sequential model with the layer at each index of ``ranks`` factorized to that rank."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential like the teacher, got {type(model).__name__}")
    copy = copy_model(model)
    for index, rank in ranks.items():
        if not isinstance(index, int) or not 0 <= index < len(copy):
            raise ValueError(f"ranks must map layer indices 0..{len(copy) - 1} to ranks, got index {index!r}")
        copy[index] = factorize(copy[index], rank)
    return copy
