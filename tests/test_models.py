"""kdviz.models: the zoo builds by name, shapes are right, bad arguments are named."""
from __future__ import annotations

import pytest
import torch

from kdviz import measure, models


@pytest.mark.parametrize("name", sorted(models.ZOO))
def test_every_zoo_model_maps_images_to_ten_logits(name):
    model = models.build(name).eval()
    assert model(torch.zeros(4, *models.INPUT_SHAPE)).shape == (4, models.NUM_CLASSES)


def test_teacher_size_follows_its_width():
    small, large = models.build("teacher", width=8), models.build("teacher", width=32)
    assert measure.count_parameters(small) < measure.count_parameters(large)


def test_bad_names_and_arguments():
    with pytest.raises(ValueError, match=r"name must be one of \['mlp', 'student_cnn', 'teacher'\]"):
        models.build("resnet")
    with pytest.raises(ValueError, match="width"):
        models.build("teacher", width=0)
    with pytest.raises(ValueError, match="dropout"):
        models.build("teacher", dropout=1.0)
    with pytest.raises(ValueError, match="hidden"):
        models.build("mlp", hidden=-1)


def test_student_sizes():
    assert 8_000 < measure.count_parameters(models.build("student_cnn", width=8)) < 10_000
    assert 19_000 < measure.count_parameters(models.build("student_cnn", width=16)) < 23_000
    with pytest.raises(ValueError, match="width"):
        models.build("student_cnn", width=0)
