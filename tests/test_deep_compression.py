"""kdviz.deep_compression: every stage's file decodes to exactly the model written, fillers bridge long distances,
and each stage's file is smaller than the one before."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdviz import deep_compression, weight_sharing


def _pruned_mlp(keep=0.1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 60), nn.ReLU(), nn.Linear(60, 10))
    with torch.no_grad():
        for layer in (model[1], model[3]):
            layer.weight.mul_((torch.rand(layer.weight.shape, generator=generator) < keep).float())
    return model


def test_entries_mark_fillers_and_rebuild_the_positions():
    mask = torch.zeros(40, dtype=torch.bool)
    mask[[0, 3, 20, 39]] = True
    distances, is_filler = deep_compression.entries(mask, cap=8)
    assert distances.tolist() == [1, 3, 8, 8, 1, 8, 8, 3]
    assert is_filler.tolist() == [False, False, True, True, False, True, True, False]
    positions = torch.cumsum(distances, 0) - 1
    assert positions[~is_filler].tolist() == [0, 3, 20, 39]


@pytest.mark.parametrize("stage", deep_compression.STAGES)
def test_a_file_decodes_to_the_same_model(tmp_path, stage):
    model = _pruned_mlp()
    stored = weight_sharing.share_weights(model, 4) if stage != "pruned" else model
    size = deep_compression.save(stored, tmp_path / "model.kddc", stage)
    assert size == (tmp_path / "model.kddc").stat().st_size == len(deep_compression.file_contents(stored, stage))
    read = deep_compression.load(tmp_path / "model.kddc", stored)
    for original, back in zip((stored[1], stored[3]), (read[1], read[3])):
        assert type(back) is type(original)
        assert torch.equal(back.weight, original.weight) and torch.equal(back.bias, original.bias)
        if stage != "pruned":
            assert torch.equal(back.mask, original.mask) and torch.equal(back.codebook, original.codebook)
    x = torch.randn(3, 1, 28, 28)
    assert torch.equal(read(x), stored(x))


def test_each_stage_is_smaller_than_the_last():
    model = _pruned_mlp(keep=0.08)
    shared = weight_sharing.share_weights(model, 5)
    sizes = [len(deep_compression.file_contents(m, stage)) for m, stage in
             ((model, "pruned"), (shared, "shared"), (shared, "huffman"))]
    dense = 4 * sum(p.numel() for p in model.parameters())
    assert dense > sizes[0] > sizes[1] > sizes[2]


def test_bad_files_and_stages_are_named(tmp_path):
    model = _pruned_mlp()
    with pytest.raises(ValueError, match="stage must be one of"):
        deep_compression.file_contents(model, "zip")
    with pytest.raises(ValueError, match="share the model's weights first"):
        deep_compression.file_contents(model, "huffman")
    (tmp_path / "other").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a file written by"):
        deep_compression.load(tmp_path / "other", model)
    deep_compression.save(model, tmp_path / "pruned", "pruned")
    (tmp_path / "cut").write_bytes((tmp_path / "pruned").read_bytes()[:-100])
    with pytest.raises(ValueError, match="ends early|stream ends"):
        deep_compression.load(tmp_path / "cut", model)
    with pytest.raises(ValueError, match="holds 2 layers, but the model has 1"):
        deep_compression.load(tmp_path / "pruned", nn.Sequential(nn.Flatten(), nn.Linear(784, 10)))
    with pytest.raises(ValueError, match=r"is \(60, 784\), the model's \(30, 784\)"):
        deep_compression.load(tmp_path / "pruned", nn.Sequential(nn.Linear(784, 30), nn.Linear(30, 10)))
