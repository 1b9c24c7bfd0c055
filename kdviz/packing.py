"""Low-bit weights stored, not simulated: b-bit codes packed 8 / b to a byte, written to a file and read back
(introduced in 03). Every Conv2d and Linear weight is quantized as ``quantize.quantize_weights`` does it
(symmetric, one scale per output channel), so reading a file back gives exactly the fake-quantized model."""
from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import nn

from kdviz import cache, quantize
from kdviz.models import copy_model, prunable_layers

PACKABLE_BITS = (1, 2, 4, 8)  # depths that divide a byte
FORMAT = "kdviz packed weights, version 1"


def validate_packable(bits: int) -> int:
    """``bits`` as one of PACKABLE_BITS, or a clear error."""
    if isinstance(bits, bool) or bits not in PACKABLE_BITS:
        raise ValueError(f"bits must be one of {list(PACKABLE_BITS)} (a byte holds a whole number of codes), "
                         f"got {bits!r}")
    return bits


def pack(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Unsigned codes (0 .. 2^bits - 1) packed 8 / bits to a byte, the first code in the lowest bits: a uint8
    tensor of ceil(n * bits / 8) bytes (the last byte padded with zero codes)."""
    validate_packable(bits)
    codes = torch.as_tensor(codes)
    if codes.is_floating_point() or codes.is_complex() or codes.dtype == torch.bool:
        raise ValueError(f"codes must be an integer tensor (quantize.quantize gives int64), got {codes.dtype}")
    flat = codes.flatten().to(torch.int64)
    if len(flat) and (flat.min() < 0 or flat.max() >= 2 ** bits):
        raise ValueError(f"codes must be integers in 0..{2 ** bits - 1} for {bits} bits, got "
                         f"{int(flat.min())}..{int(flat.max())}")
    per_byte = 8 // bits
    padded = torch.nn.functional.pad(flat, (0, -len(flat) % per_byte)).reshape(-1, per_byte)
    return (padded << (torch.arange(per_byte) * bits)).sum(dim=1).to(torch.uint8)


def unpack(packed: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """The first ``count`` codes (int64) of bytes written by :func:`pack`."""
    validate_packable(bits)
    per_byte = 8 // bits
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError(f"count must be an integer number of codes, got {count!r}")
    if not isinstance(packed, torch.Tensor) or packed.dtype != torch.uint8 or packed.dim() != 1 \
            or not 0 <= count <= len(packed) * per_byte:
        shown = f"{packed.dtype} {tuple(packed.shape)}" if isinstance(packed, torch.Tensor) else type(packed).__name__
        raise ValueError(f"packed must be a 1-D uint8 tensor holding at least count codes; got {shown} for count {count}")
    shifts = torch.arange(per_byte) * bits
    return ((packed.to(torch.int64)[:, None] >> shifts) & (2 ** bits - 1)).flatten()[:count]


def unsigned_codes(weight: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A weight's ``bits``-bit codes as :func:`pack` takes them and their scales: quantized symmetrically with one
    scale per output channel (as ``quantize.quantize_weights``), then shifted from -2^(b-1) .. 2^(b-1) - 1 to
    0 .. 2^b - 1."""
    weight = weight.detach().float().cpu()
    params = quantize.choose_qparams(weight, validate_packable(bits), symmetric=True, axis=0)
    return quantize.quantize(weight, params) + 2 ** (bits - 1), params.scale.float()


def packed_state(model: nn.Module, bits: int) -> dict:
    """Everything needed to rebuild the model with ``bits``-bit weights, as plain tensors (a weights-only file):
    each Conv2d and Linear weight as packed codes, its shape and its per-channel scales; every other parameter and
    buffer (biases, batch norm) as it is."""
    validate_packable(bits)
    weights, packed_names = {}, set()
    for name, layer in prunable_layers(model).items():
        codes, scale = unsigned_codes(layer.weight, bits)
        weights[name] = {"codes": pack(codes, bits), "shape": torch.tensor(layer.weight.shape), "scale": scale}
        packed_names.add(f"{name}.weight" if name else "weight")
    rest = {key: value.detach().cpu() for key, value in model.state_dict().items() if key not in packed_names}
    return {"format": FORMAT, "bits": bits, "weights": weights, "rest": rest}


def file_contents(model: nn.Module, bits: int) -> bytes:
    """The bytes :func:`save` writes: the model with packed ``bits``-bit weights, as one weights-only file."""
    buffer = io.BytesIO()
    torch.save(packed_state(model, bits), buffer)
    return buffer.getvalue()


def save(model: nn.Module, bits: int, path: Path | str) -> int:
    """Write the model with packed ``bits``-bit weights to ``path`` (whole, or not at all); the file's bytes."""
    contents = file_contents(model, bits)
    cache.atomic_write(Path(path), lambda stream: stream.write(contents))
    return Path(path).stat().st_size


def load(path: Path | str, model: nn.Module) -> nn.Module:
    """A copy of ``model`` (the architecture) with the weights of a file written by :func:`save` (read
    weights-only): each weight is its codes times its channel's scale."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a file of packed weights written by kdviz.packing.save")
    bits = state.get("bits")
    if isinstance(bits, bool) or bits not in PACKABLE_BITS:
        raise ValueError(f"{path} names {bits!r} bits a weight; a packed file holds one of {list(PACKABLE_BITS)}")
    offset = 2 ** (bits - 1)
    rebuilt = copy_model(model)
    layers = prunable_layers(rebuilt)
    if set(state["weights"]) != set(layers):
        raise ValueError(f"{path} holds the layers {sorted(state['weights'])}, but the model has {sorted(layers)}")
    expected = rebuilt.state_dict()
    for key, value in state["rest"].items():
        if key in expected and expected[key].shape != value.shape:
            raise ValueError(f"{path}: {key} is {tuple(value.shape)}, the model's {tuple(expected[key].shape)}")
    outcome = rebuilt.load_state_dict(state["rest"], strict=False)
    if outcome.unexpected_keys or set(outcome.missing_keys) != {f"{name}.weight" for name in layers}:
        raise ValueError(f"{path} does not hold this model's parameters (missing {outcome.missing_keys}, "
                         f"unexpected {outcome.unexpected_keys})")
    with torch.no_grad():
        for name, stored in state["weights"].items():
            shape = torch.Size(stored["shape"].tolist())
            if shape != layers[name].weight.shape:
                raise ValueError(f"{path}: layer {name} is {tuple(shape)}, the model's {tuple(layers[name].weight.shape)}")
            if stored["scale"].numel() != shape[0]:
                raise ValueError(f"{path}: layer {name} has {stored['scale'].numel()} scales for {shape[0]} output channels")
            codes = unpack(stored["codes"], bits, shape.numel()).reshape(shape) - offset
            scale = stored["scale"].reshape(-1, *([1] * (len(shape) - 1)))
            layers[name].weight.copy_(codes.float() * scale)
    return rebuilt
