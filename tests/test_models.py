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
    names = r"\['compact_cnn', 'fire_cnn', 'lenet_300_100', 'mlp', 'separable_cnn', 'student_cnn', 'teacher', 'tiny_mlp'\]"
    with pytest.raises(ValueError, match=f"name must be one of {names}"):
        models.build("resnet")
    with pytest.raises(ValueError, match="width"):
        models.build("teacher", width=0)
    with pytest.raises(ValueError, match="dropout"):
        models.build("teacher", dropout=1.0)
    with pytest.raises(ValueError, match="hidden"):
        models.build("mlp", hidden=-1)


def test_compact_student_is_the_teacher_at_half_width():
    compact, teacher = models.build("compact_cnn"), models.build("teacher")
    assert [type(m) for m in compact] == [type(m) for m in teacher]
    assert compact[0].out_channels * 2 == teacher[0].out_channels and 110_000 < measure.count_parameters(compact) < 125_000


def test_student_sizes():
    assert 8_000 < measure.count_parameters(models.build("student_cnn", width=8)) < 10_000
    assert 19_000 < measure.count_parameters(models.build("student_cnn", width=16)) < 23_000
    with pytest.raises(ValueError, match="width"):
        models.build("student_cnn", width=0)


def test_twins_differ_from_the_teacher_only_in_the_last_three_convolutions():
    teacher, separable, fire = (models.build(name) for name in ("teacher", "separable_cnn", "fire_cnn"))
    for twin in (separable, fire):
        kinds = [type(m).__name__ for m in twin]
        assert kinds[:3] == [type(m).__name__ for m in teacher][:3]  # first convolution, batch norm, ReLU
        assert kinds[-6:] == [type(m).__name__ for m in teacher][-6:]  # the same classifier
        assert [type(twin[i]).__name__ for i in (3, 7, 10)] == (["Sequential"] * 3 if twin is separable else ["Fire"] * 3)
    assert measure.macs(teacher) / measure.macs(separable) > 5
    assert measure.macs(teacher) / measure.macs(fire) > 4


def test_lenet_300_100_has_the_papers_266k_parameters():
    model = models.build("lenet_300_100")
    assert measure.count_parameters(model) == 784 * 300 + 300 + 300 * 100 + 100 + 100 * 10 + 10 == 266_610
