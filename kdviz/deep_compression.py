"""Deep Compression's file (introduced in 05): a pruned network's surviving weights written as relative positions
and values, at each of its three stages, as bytes on disk.

* ``"pruned"``: each surviving weight as a float32 value and its distance from the previous one, in fixed-width
  bits; a distance longer than the widest one is bridged by filler entries (a zero weight), as in the paper.
* ``"shared"``: the values replaced by fixed-width indices into the layer's codebook (weight sharing).
* ``"huffman"``: the indices and the distances Huffman-coded, the code lengths stored beside them.

The format is plain bytes read with ``struct`` (nothing is unpickled). Each layer picks the widest distance that
makes its file smallest.
"""
from __future__ import annotations

import struct
from pathlib import Path

import torch
from torch import nn

from kdviz import cache, huffman
from kdviz.models import copy_model
from kdviz.weight_sharing import SharedLinear

STAGES = ("pruned", "shared", "huffman")
MAGIC = b"KDDC1"
_CAPS = tuple(2 ** b for b in range(1, 13))  # the widest distance a layer may use: 2 .. 4,096
_HEADER = struct.Struct("<5sBH")  # magic, stage, layers
_LAYER = struct.Struct("<IIIIB?")  # rows, columns, entries, codebook size, log2 of the widest distance, has bias


def validate_stage(stage: str) -> str:
    """``stage`` as one of STAGES, or a clear error."""
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {list(STAGES)}, got {stage!r}")
    return stage


def _layers(model: nn.Module) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, name, layer) for every Linear or SharedLinear of the model, in order."""
    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, (nn.Linear, SharedLinear))]
    if not found:
        raise ValueError("model has no Linear or SharedLinear layer to store")
    return found


def entries(mask: torch.Tensor, cap: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The surviving weights of a mask (read row by row) as entries: each entry's distance from the previous one
    (1 .. cap) and whether it is a filler bridging a longer distance. Returns (distances, is_filler)."""
    positions = mask.flatten().nonzero().flatten()
    gaps = torch.diff(positions, prepend=torch.tensor([-1]))
    fillers = (gaps - 1) // cap  # entries of distance ``cap`` before the real one
    is_filler = torch.repeat_interleave(torch.stack([torch.ones_like(gaps), torch.zeros_like(gaps)], 1).flatten(),
                                        torch.stack([fillers, torch.ones_like(gaps)], 1).flatten()).bool()
    distances = torch.full((len(is_filler),), cap, dtype=torch.long)
    distances[~is_filler] = gaps - fillers * cap
    return distances, is_filler


def _fixed_lengths(alphabet: int) -> list[int]:
    return [max(1, (alphabet - 1).bit_length())] * alphabet


def _streams(layer: nn.Module, stage: str, cap: int) -> tuple[list[int], list[int], int]:
    """A layer's distance symbols (distance - 1), index symbols (the filler's: the codebook's size) and codebook
    size, at ``cap``."""
    mask = layer.mask if isinstance(layer, SharedLinear) else layer.weight.detach() != 0
    distances, is_filler = entries(mask, cap)
    if stage == "pruned":
        return (distances - 1).tolist(), [], 0
    if not isinstance(layer, SharedLinear):
        raise ValueError(f"stage {stage!r} stores shared weights: share the model's weights first "
                         "(weight_sharing.share_weights)")
    indices = torch.full((len(is_filler),), len(layer.codebook), dtype=torch.long)
    indices[~is_filler] = layer.index[layer.mask]  # boolean indexing reads row by row, as entries does
    return (distances - 1).tolist(), indices.tolist(), len(layer.codebook)


def _coded(symbols: list[int], alphabet: int, stage: str) -> tuple[list[int], bytes]:
    """Code lengths and the coded stream of ``symbols``: Huffman's or fixed-width."""
    lengths = huffman.code_lengths(symbols, alphabet) if stage == "huffman" else _fixed_lengths(alphabet)
    return lengths, huffman.encode(symbols, lengths)


def _layer_bytes(layer: nn.Module, stage: str, cap: int) -> bytes:
    gaps, indices, codebook_size = _streams(layer, stage, cap)
    bias = layer.bias.detach().float().cpu() if layer.bias is not None else None
    rows, columns = (layer.index if isinstance(layer, SharedLinear) else layer.weight).shape
    parts = [_LAYER.pack(rows, columns, len(gaps), codebook_size, cap.bit_length() - 1, bias is not None)]
    if bias is not None:
        parts.append(bias.numpy().astype("<f4").tobytes())
    gap_lengths, gap_stream = _coded(gaps, cap, stage)
    if stage == "pruned":
        weight = layer.weight.detach().float().cpu().flatten()
        positions = torch.cumsum(torch.tensor(gaps) + 1, 0) - 1
        values = weight[positions]  # fillers land on pruned positions: their value is zero
        parts.append(values.numpy().astype("<f4").tobytes())
    else:
        parts.append(layer.codebook.detach().float().cpu().numpy().astype("<f4").tobytes())
        index_lengths, index_stream = _coded(indices, codebook_size + 1, stage)
        if stage == "huffman":
            parts += [bytes(gap_lengths), bytes(index_lengths)]
        parts += [struct.pack("<I", len(index_stream)), index_stream]
    parts += [struct.pack("<I", len(gap_stream)), gap_stream]
    return b"".join(parts)


def layer_contents(layer: nn.Module, stage: str) -> bytes:
    """One layer's bytes at ``stage``, with the widest distance that makes them fewest."""
    validate_stage(stage)
    return min((_layer_bytes(layer, stage, cap) for cap in _CAPS), key=len)


def file_contents(model: nn.Module, stage: str = "huffman") -> bytes:
    """The bytes :func:`save` writes: every Linear (``"pruned"``) or SharedLinear layer of the model at ``stage``."""
    layers = _layers(model)
    return _HEADER.pack(MAGIC, STAGES.index(validate_stage(stage)), len(layers)) + b"".join(
        layer_contents(layer, stage) for _, _, layer in layers)


def save(model: nn.Module, path: Path | str, stage: str = "huffman") -> int:
    """Write the model's layers at ``stage`` to ``path`` (whole, or not at all); the file's bytes."""
    contents = file_contents(model, stage)
    cache.atomic_write(Path(path), lambda stream: stream.write(contents))
    return Path(path).stat().st_size


class _Reader:
    """Reads a file's bytes in order, with a clear error where they run out."""

    def __init__(self, data: bytes, source: str):
        self.data, self.offset, self.source = data, 0, source

    def take(self, count: int) -> bytes:
        if self.offset + count > len(self.data):
            raise ValueError(f"{self.source} ends early: it is not a whole file written by deep_compression.save")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple:
        return layout.unpack(self.take(layout.size))

    def floats(self, count: int) -> torch.Tensor:
        return torch.frombuffer(bytearray(self.take(4 * count)), dtype=torch.float32) if count else torch.zeros(0)

    def stream(self) -> bytes:
        (size,) = struct.unpack("<I", self.take(4))
        return self.take(size)


def _read_layer(reader: _Reader, stage: str) -> nn.Module:
    rows, columns, count, codebook_size, position_bits, has_bias = reader.unpack(_LAYER)
    cap = 2 ** position_bits
    bias = reader.floats(rows) if has_bias else None
    if stage == "pruned":
        values = reader.floats(count)
        gaps = huffman.decode(reader.stream(), _fixed_lengths(cap), count)
    else:
        codebook = reader.floats(codebook_size)
        if stage == "huffman":
            gap_lengths, index_lengths = list(reader.take(cap)), list(reader.take(codebook_size + 1))
        else:
            gap_lengths, index_lengths = _fixed_lengths(cap), _fixed_lengths(codebook_size + 1)
        indices = torch.tensor(huffman.decode(reader.stream(), index_lengths, count), dtype=torch.long)
        gaps = huffman.decode(reader.stream(), gap_lengths, count)
    positions = torch.cumsum(torch.tensor(gaps, dtype=torch.long) + 1, 0) - 1 if count else torch.zeros(0, dtype=torch.long)
    if count and positions[-1] >= rows * columns:
        raise ValueError(f"{reader.source}: a position lies outside its {rows} x {columns} layer")
    if stage == "pruned":
        weight = torch.zeros(rows * columns)
        weight[positions] = values
        layer = nn.Linear(columns, rows, bias=has_bias)
        with torch.no_grad():
            layer.weight.copy_(weight.reshape(rows, columns))
            if has_bias:
                layer.bias.copy_(bias)
        return layer
    real = indices < codebook_size  # fillers carry the index one past the codebook
    index, mask = torch.zeros(rows * columns, dtype=torch.long), torch.zeros(rows * columns, dtype=torch.bool)
    index[positions[real]], mask[positions[real]] = indices[real], True
    return SharedLinear(codebook, index.reshape(rows, columns), mask.reshape(rows, columns), bias)


def load(path: Path | str, model: nn.Module) -> nn.Module:
    """A copy of ``model`` (the architecture) with its Linear layers read from a file written by :func:`save`:
    plain Linear layers from a ``"pruned"`` file, SharedLinear ones from the others."""
    reader = _Reader(Path(path).read_bytes(), str(path))
    magic, stage_number, count = reader.unpack(_HEADER)
    if magic != MAGIC or stage_number >= len(STAGES):
        raise ValueError(f"{path} is not a file written by kdviz.deep_compression.save")
    stage = STAGES[stage_number]
    rebuilt = copy_model(model)
    layers = _layers(rebuilt)
    if count != len(layers):
        raise ValueError(f"{path} holds {count} layers, but the model has {len(layers)}")
    for parent, name, layer in layers:
        read = _read_layer(reader, stage)
        expected = (layer.index if isinstance(layer, SharedLinear) else layer.weight).shape
        shape = (read.index if isinstance(read, SharedLinear) else read.weight).shape
        if shape != expected:
            raise ValueError(f"{path}: layer {name} is {tuple(shape)}, the model's {tuple(expected)}")
        setattr(parent, name, read)
    return rebuilt
