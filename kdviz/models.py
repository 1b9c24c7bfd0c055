"""The model zoo, built by name (introduced in 00; later notebooks add students)."""
from __future__ import annotations

import copy
import inspect
from collections.abc import Callable

import torch
from torch import nn

from kdviz import architectures

INPUT_SHAPE = (1, 28, 28)
NUM_CLASSES = 10


ConvFactory = Callable[[int, int], nn.Module]  # (in_channels, out_channels) -> a 3x3-receptive-field layer


def conv_bn_relu(in_channels: int, out_channels: int, conv: ConvFactory | None = None) -> list[nn.Module]:
    """A 3x3 convolution (no bias: batch norm has one), or ``conv(in, out)`` in its place, then batch norm and ReLU."""
    layer = conv(in_channels, out_channels) if conv else architectures.standard_conv(in_channels, out_channels, 3)
    return [layer, nn.BatchNorm2d(out_channels), nn.ReLU()]


def _vgg(conv: ConvFactory | None, width: int, hidden: int, dropout: float) -> nn.Sequential:
    if width <= 0 or hidden <= 0:
        raise ValueError(f"width and hidden must be positive, got width={width}, hidden={hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return nn.Sequential(  # the first layer sees 1 channel: a standard convolution in every variant
        *conv_bn_relu(1, width), *conv_bn_relu(width, width, conv), nn.MaxPool2d(2),  # (B, w, 14, 14)
        *conv_bn_relu(width, 2 * width, conv), *conv_bn_relu(2 * width, 2 * width, conv), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
        nn.Flatten(),
        nn.Dropout(dropout), nn.Linear(2 * width * 7 * 7, hidden), nn.ReLU(),
        nn.Dropout(dropout), nn.Linear(hidden, NUM_CLASSES),
    )


def teacher_cnn(width: int = 32, hidden: int = 256, dropout: float = 0.3) -> nn.Sequential:
    """The teacher: two VGG-style blocks of two 3x3 convolutions (width, 2*width), then a 2-layer classifier."""
    return _vgg(None, width, hidden, dropout)


def separable_cnn(width: int = 32, hidden: int = 256, dropout: float = 0.3) -> nn.Sequential:
    """The teacher's twin with its last three convolutions depthwise-separable (notebook 01)."""
    return _vgg(architectures.separable_conv, width, hidden, dropout)


def fire_cnn(width: int = 32, hidden: int = 256, dropout: float = 0.3) -> nn.Sequential:
    """The teacher's twin with its last three convolutions SqueezeNet fire modules (notebook 01)."""
    return _vgg(architectures.fire_conv, width, hidden, dropout)


def compact_cnn(width: int = 16, hidden: int = 64, dropout: float = 0.1) -> nn.Sequential:
    """The teacher's shape at half its width and a quarter of its hidden units (118k parameters): the student that
    notebook 05 distils, prunes and quantizes."""
    return _vgg(None, width, hidden, dropout)


def mlp(hidden: int = 100) -> nn.Sequential:
    """A one-hidden-layer perceptron 784-hidden-10: the smallest sensible baseline."""
    if hidden <= 0:
        raise ValueError(f"hidden must be positive, got {hidden}")
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, hidden), nn.ReLU(), nn.Linear(hidden, NUM_CLASSES))


def lenet_300_100() -> nn.Sequential:
    """LeNet-300-100, the perceptron 784-300-100-10 that Deep Compression compressed 40 times (notebook 05)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 300), nn.ReLU(), nn.Linear(300, 100), nn.ReLU(),
                         nn.Linear(100, NUM_CLASSES))


def student_cnn(width: int = 8) -> nn.Sequential:
    """A small student: two 3x3 convolution blocks (width, 2*width) with pooling, then one linear layer.

    width 8 gives about 9k parameters, width 16 about 21k (the teacher has 871k).
    """
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return nn.Sequential(
        *conv_bn_relu(1, width), nn.MaxPool2d(2),  # (B, w, 14, 14)
        *conv_bn_relu(width, 2 * width), nn.MaxPool2d(2),  # (B, 2w, 7, 7)
        nn.Flatten(), nn.Linear(2 * width * 7 * 7, NUM_CLASSES),
    )


def tiny_mlp(hidden: int = 8) -> nn.Sequential:
    """A network small enough for an exact Hessian (490 parameters): 4x4 average pooling to 7x7, 49-hidden-10 with
    tanh (notebook 02)."""
    if hidden <= 0:
        raise ValueError(f"hidden must be positive, got {hidden}")
    return nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(49, hidden), nn.Tanh(), nn.Linear(hidden, NUM_CLASSES))


ZOO: dict[str, Callable[..., nn.Module]] = {
    "teacher": teacher_cnn,
    "mlp": mlp,
    "student_cnn": student_cnn,
    "separable_cnn": separable_cnn,
    "fire_cnn": fire_cnn,
    "tiny_mlp": tiny_mlp,
    "compact_cnn": compact_cnn,
    "lenet_300_100": lenet_300_100,
}


def build(name: str, **kwargs) -> nn.Module:
    """A fresh, untrained model of the zoo by name."""
    if name not in ZOO:
        raise ValueError(f"name must be one of {sorted(ZOO)}, got {name!r}")
    allowed = inspect.signature(ZOO[name]).parameters
    for key, value in kwargs.items():
        if key not in allowed:
            raise ValueError(f"{name} takes {sorted(allowed)}, got {key!r}")
        if key == "dropout":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"dropout must be a probability in [0, 1), got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    return ZOO[name](**kwargs)


def device_of(model: nn.Module) -> torch.device:
    """Where a model's parameters live; the CPU for a model without any (an int8 model, a pooling layer)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy that also works while torch.nn.utils.prune's masks are attached."""
    for module in model.modules():
        for name in [n[: -len("_mask")] for n, _ in module.named_buffers(recurse=False) if n.endswith("_mask")]:
            setattr(module, name, getattr(module, name).detach())  # recomputed from _orig * _mask at each forward
    return copy.deepcopy(model)


def replace_layers(model: nn.Module, kind: type[nn.Module], make: Callable[[nn.Module], nn.Module]) -> int:
    """Replace, in place, every layer of type ``kind`` in ``model`` by ``make(layer)``; how many were replaced."""
    replaced = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, kind):
                setattr(module, name, make(child))
                replaced += 1
    return replaced


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """The Conv2d and Linear layers of a model, by name: the ones whose ``weight`` is pruned."""
    layers = {name: module for name, module in model.named_modules() if isinstance(module, (nn.Conv2d, nn.Linear))}
    if not layers:
        raise ValueError(f"model must contain Conv2d or Linear layers; {type(model).__name__} has none")
    return layers
