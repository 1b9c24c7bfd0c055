"""Profiles: every knob is a field, and every cached run is keyed by the fields it depends on."""
from __future__ import annotations

from dataclasses import replace

import pytest

from kdviz import pruning_runs, quantization_runs


@pytest.fixture
def tiny(small_world):
    """A third profile, defined here and nowhere else, with grids of its own."""
    return replace(small_world, name="tiny", saliency_images=40, calibration_images=30, sparsities=(0.0, 0.6),
                   sensitivity_sparsities=(0.0, 0.7), pruning_schedule=(0.6,), loss_fractions=(0.2,),
                   weight_bits=(5,), activation_bits=(6,))


def test_a_third_profile_changes_every_grid_of_the_runs(tiny):
    assert len(pruning_runs.saliency_images(tiny)[1]) == 40
    assert len(quantization_runs.calibration_images(tiny)) == 30
    curves = pruning_runs.one_shot(tiny)
    assert all([round(r["sparsity"], 2) for r in rows] == [0.0, 0.6] for rows in curves.values())
    assert pruning_runs.sensitivity(tiny)["sparsities"] == [0.0, 0.7]
    assert [r["fraction"] for r in pruning_runs.loss_prediction(tiny)["obd"]] == [0.2]
    _, iterative = pruning_runs.iterative(tiny, "magnitude")
    assert [round(step["sparsity"], 2) for step in iterative["steps"]] == [0.6]
    assert [r["bits"] for r in quantization_runs.weight_bits(tiny)["per tensor"]] == [5]
    assert all([r["bits"] for r in rows] == [6] for rows in quantization_runs.activation_bits(tiny).values())


def stored(home, kind: str) -> int:
    return len(list((home / "results").glob(f"{kind}-*")))


def test_a_changed_field_is_never_read_from_an_old_entry(tiny, isolated_home):
    quantization_runs.activation_bits(tiny, bits=(8,))
    pruning_runs.teacher_saliency(tiny)
    quantization_runs.weight_bits(tiny, bits=(8,))
    assert stored(isolated_home, "activation-bits") == stored(isolated_home, "teacher-saliency") == 1

    more_calibration = replace(tiny, calibration_images=50)
    quantization_runs.activation_bits(more_calibration, bits=(8,))
    assert stored(isolated_home, "activation-bits") == 2  # computed again, not read back
    quantization_runs.weight_bits(more_calibration, bits=(8,))
    assert stored(isolated_home, "weight-bits") == 1  # does not depend on the calibration images

    more_saliency = replace(tiny, saliency_images=60)
    pruning_runs.teacher_saliency(more_saliency)
    assert stored(isolated_home, "teacher-saliency") == 2

    longer = replace(tiny, max_epochs=2)  # a training field: the teacher and everything on it are new
    quantization_runs.weight_bits(longer, bits=(8,))
    assert stored(isolated_home, "weight-bits") == 2
    assert len(list((isolated_home / "checkpoints").glob("teacher-tiny-*.pt"))) == 2
