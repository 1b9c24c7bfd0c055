"""kdviz.adversarial: FGSM by hand, and the defensive-distillation models on small fake data."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from kdviz import adversarial, data, models


def test_fgsm_step_moves_every_pixel_by_epsilon_within_range():
    x = torch.tensor([0.0, 0.5, 0.98, 0.3])
    gradient = torch.tensor([-1.0, 2.0, 3.0, 0.0])
    assert torch.allclose(adversarial.fgsm_step(x, gradient, 0.1), torch.tensor([0.0, 0.6, 1.0, 0.3]))
    for bad in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match=r"epsilon .* must be in \[0, 1\]"):
            adversarial.fgsm_step(x, gradient, bad)


def test_fgsm_raises_the_loss_of_a_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    x, labels = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    loss = lambda inputs: nn.functional.cross_entropy(model(inputs), labels)  # noqa: E731
    assert loss(adversarial.fgsm(model, x, labels, 0.05)) > loss(x)
    gradient = adversarial.input_gradient(model, x, labels)
    expected = torch.autograd.functional.jacobian(lambda inputs: loss(inputs) * len(labels), x)
    assert torch.allclose(gradient, expected, atol=1e-5)


def test_a_saturated_softmax_hides_the_gradient_and_temperature_restores_it():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with torch.no_grad():
        model[1].weight.mul_(0.01)
        model[1].bias.zero_()[0] = 200.0  # class 0 leads by ~200: in float32 the softmax is exactly one-hot
    x, labels = torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long)
    assert adversarial.input_gradient(model, x, labels).abs().max() == 0
    assert adversarial.input_gradient(model, x, labels, temperature=100.0).abs().max() > 0


def test_the_three_models_train_cache_and_are_attacked(small_world, monkeypatch):
    defence = adversarial.Defence(width=4, T=10.0, epochs=2)
    models_ = {kind: adversarial.trained(kind, defence, small_world, progress=False) for kind in adversarial.KINDS}
    assert all(0 <= result["accuracy"] <= 1 for _, result in models_.values())
    monkeypatch.setattr(adversarial.train, "fit", lambda *a, **k: pytest.fail("trained again"))
    standard, _ = adversarial.trained("standard", defence, small_world)
    images = torch.randint(0, 256, (20, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (20,))
    curve = adversarial.attack_curve(standard, images, labels, (0.0, 0.1), batch_size=8)
    clean = (standard(adversarial.Standardize()(adversarial.pixels(images))).argmax(1) == labels).float().mean()
    assert curve["accuracy"][0] == pytest.approx(float(clean)) and 0 <= curve["zero_gradient"] <= 1
    assert adversarial.logit_scale(standard, images) >= 0
    with pytest.raises(ValueError, match=r"kind must be one of \['standard'"):
        adversarial.trained("robust", defence, small_world)


def test_on_pixels_standardises_like_the_data_pipeline():
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    model = models.student_cnn(width=2).eval()
    assert torch.allclose(adversarial.on_pixels(model)(adversarial.pixels(images)), model(data.normalize(images)),
                          atol=1e-5)


@pytest.mark.parametrize("settings, message", [(dict(T=0), r"T \(the temperature\) must be a number from"),
                                               (dict(width=0), "width must be a positive integer"),
                                               (dict(epochs=1.5), "epochs must be a positive integer")])
def test_bad_defence_settings_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        adversarial.Defence(**settings)
