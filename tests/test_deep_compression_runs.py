"""kdviz.deep_compression_runs: the three stages on small fake data: each layer pruned to its rate, every stage's
file smaller than the last, a codebook size chosen, everything cached."""
from __future__ import annotations

import pytest

from kdviz import deep_compression_runs, train


@pytest.fixture
def short_stages(small_world, monkeypatch):
    monkeypatch.setattr(deep_compression_runs, "PRUNING_STEPS", 2)
    monkeypatch.setattr(deep_compression_runs, "EPOCHS_PER_STEP", 1)
    monkeypatch.setattr(deep_compression_runs, "LAST_STEP_EPOCHS", 1)
    monkeypatch.setattr(deep_compression_runs, "BITS", (2, 3))
    monkeypatch.setattr(deep_compression_runs, "FINETUNE_EPOCHS", 1)
    monkeypatch.setitem(train.RECIPES, "lenet_300_100", train.Recipe(epochs=2, lr=0.05, augmentation=False))
    return small_world


def test_the_stages_prune_share_and_shrink(short_stages, monkeypatch):
    stages = deep_compression_runs.stages(short_stages, progress=False)
    assert stages["pruned"]["density"] == pytest.approx([1 - rate for rate in deep_compression_runs.PRUNED], abs=1e-3)
    assert len(stages["pruned"]["steps"]) == 2
    assert stages["chosen_bits"] in (2, 3)
    for row in stages["bits"]:
        assert stages["dense"]["bytes"] > stages["pruned"]["bytes"] > row["shared_bytes"] > row["huffman_bytes"]
    model, row = deep_compression_runs.chosen(short_stages, progress=False)
    assert row["bits"] == stages["chosen_bits"] and all(len(layer.codebook) == 2 ** row["bits"]
                                                         for layer in model if hasattr(layer, "codebook"))
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("trained again"))
    assert deep_compression_runs.stages(short_stages, progress=False) == stages


def test_bad_codebook_sizes_are_named():
    with pytest.raises(ValueError, match=r"bits must be one of \[2, 3, 4, 5, 6\]"):
        deep_compression_runs.validate_codebook_bits(7)
