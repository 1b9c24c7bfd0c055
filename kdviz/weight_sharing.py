"""Weight sharing, the second stage of Deep Compression (introduced in 05): a pruned layer's surviving weights
clustered by k-means into 2^bits shared values (its codebook), each weight kept as the index of its cluster; the
codebook then fine-tuned, each centroid moved by the sum of the gradients of the weights that share it."""
from __future__ import annotations

import torch
from torch import nn

from kdviz import quantize
from kdviz.models import copy_model, replace_layers


def kmeans_1d(values: torch.Tensor, clusters: int, iterations: int = 30) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means on a 1-D tensor, started from ``clusters`` centroids spread evenly between its smallest and
    largest value (the linear start, which keeps the rare large weights their own centroids): the centroids and
    each value's cluster. A cluster that loses every value keeps its centroid."""
    values = torch.as_tensor(values).detach().float().flatten()
    if isinstance(clusters, bool) or not isinstance(clusters, int) or clusters < 1:
        raise ValueError(f"clusters must be a positive integer, got {clusters!r}")
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative integer, got {iterations!r}")
    if values.numel() == 0 or not torch.isfinite(values).all():
        raise ValueError("values must be a non-empty tensor of finite numbers")
    centroids = torch.linspace(float(values.min()), float(values.max()), clusters)
    for _ in range(iterations):
        assignment = nearest(values, centroids)
        sums = torch.zeros(clusters).index_add_(0, assignment, values)
        counts = torch.bincount(assignment, minlength=clusters)
        updated = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        if torch.equal(updated, centroids):
            break
        centroids = updated
    return centroids, nearest(values, centroids)


def nearest(values: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """The index of each value's nearest centroid (the lower index on a tie)."""
    return (values[:, None] - centroids[None, :]).abs().argmin(dim=1)


class SharedLinear(nn.Module):
    """A pruned Linear layer whose surviving weights are entries of a shared codebook: weight = codebook[index]
    where the mask is set, 0 elsewhere. The codebook and the bias are the parameters; autograd's backward of the
    lookup adds up the gradients of the weights that share each entry."""

    def __init__(self, codebook: torch.Tensor, index: torch.Tensor, mask: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        if index.shape != mask.shape or index.dim() != 2:
            raise ValueError(f"index and mask must be matrices of one shape, got {tuple(index.shape)} and "
                             f"{tuple(mask.shape)}")
        if index.numel() and (index.min() < 0 or index.max() >= len(codebook)):
            raise ValueError(f"index must hold entries 0..{len(codebook) - 1} of the codebook")
        self.codebook = nn.Parameter(codebook.detach().float().clone())
        self.register_buffer("index", index.detach().long().clone())
        self.register_buffer("mask", mask.detach().bool().clone())
        self.bias = nn.Parameter(bias.detach().float().clone()) if bias is not None else None

    @classmethod
    def from_linear(cls, layer: nn.Linear, bits: int) -> SharedLinear:
        """``layer``'s nonzero weights clustered into 2^bits shared values (k-means, linear start)."""
        quantize.validate_bits(bits)
        weight = layer.weight.detach().float()
        mask = weight != 0
        if not mask.any():
            raise ValueError("the layer has no nonzero weight to share")
        codebook, assignment = kmeans_1d(weight[mask], 2 ** bits)
        index = torch.zeros_like(weight, dtype=torch.long)
        index[mask] = assignment
        return cls(codebook, index, mask, layer.bias)

    @property
    def bits(self) -> int:
        """Bits of one index: log2 of the codebook's size."""
        return max(1, (len(self.codebook) - 1).bit_length())

    @property
    def weight(self) -> torch.Tensor:
        """The dense weight the layer computes with."""
        return torch.where(self.mask, self.codebook[self.index], torch.zeros((), device=self.codebook.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        out_features, in_features = self.index.shape
        return f"in_features={in_features}, out_features={out_features}, codebook={len(self.codebook)}"


def share_weights(model: nn.Module, bits: int) -> nn.Module:
    """A copy of ``model`` with every Linear layer replaced by a :class:`SharedLinear` of 2^bits shared values."""
    shared = copy_model(model)
    if not replace_layers(shared, nn.Linear, lambda layer: SharedLinear.from_linear(layer, bits)):
        raise ValueError("model has no Linear layer to share")
    return shared


def _as_linear(layer: SharedLinear) -> nn.Linear:
    out_features, in_features = layer.index.shape
    linear = nn.Linear(in_features, out_features, bias=layer.bias is not None)
    with torch.no_grad():
        linear.weight.copy_(layer.weight)
        if layer.bias is not None:
            linear.bias.copy_(layer.bias)
    return linear


def to_linear(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every :class:`SharedLinear` turned back into a plain Linear of its weights."""
    plain = copy_model(model)
    replace_layers(plain, SharedLinear, _as_linear)
    return plain
