"""Real int8 on the CPU with PyTorch's quantized kernels (x86/fbgemm, qnnpack on ARM): post-training static
quantization of the teacher and dynamic quantization of its linear layers (introduced in 03).

PyTorch 2.14 still ships these kernels through ``torch.ao.quantization``'s eager mode, which warns that it is
deprecated in favour of torchao (https://github.com/pytorch/ao) and the PT2E export flow. The warnings are
silenced here, once, by message; the notebook tells learners which API is the future one.
"""
from __future__ import annotations

import contextlib
import platform
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torch.ao import quantization as tq

from kdviz import data
from kdviz.models import copy_model

DEPRECATION_MESSAGES = (r"torch\.ao\.quantization is deprecated", r".*quantized tensor creation functions",
                        r"Please use quant_min and quant_max", r".*torch\.ao\.quantization.*deprecated")


@contextlib.contextmanager
def quiet_deprecations() -> Iterator[None]:
    """Silence torch.ao.quantization's deprecation warnings (and only those) inside the block."""
    with warnings.catch_warnings():
        for message in DEPRECATION_MESSAGES:
            warnings.filterwarnings("ignore", message=message)
        yield


def backend() -> str:
    """The quantized engine for this CPU: "x86" (fbgemm and oneDNN) on Intel and AMD, "qnnpack" on ARM."""
    engines = torch.backends.quantized.supported_engines
    wanted = "qnnpack" if platform.machine().lower() in ("arm64", "aarch64") else "x86"
    if wanted not in engines:
        wanted = next((e for e in ("x86", "fbgemm", "qnnpack") if e in engines), None)
    if wanted is None:
        raise RuntimeError(f"this PyTorch build has no quantized CPU engine (supported: {engines})")
    return wanted


class QuantizedWrapper(nn.Module):
    """The model between a QuantStub (float -> int8 at the input) and a DeQuantStub (int8 -> float at the output)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        with quiet_deprecations():
            self.quant, self.dequant = tq.QuantStub(), tq.DeQuantStub()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.model(self.quant(x)))


def fusion_groups(model: nn.Sequential, prefix: str = "model.") -> list[list[str]]:
    """Runs of Conv2d-BatchNorm2d(-ReLU) and Linear(-ReLU) in a sequential model, by name, for fuse_modules."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model must be an nn.Sequential like the teacher, got {type(model).__name__}")
    layers, groups, i = list(model), [], 0
    while i < len(layers):
        kinds = [type(m) for m in layers[i:i + 3]]
        if kinds[:1] == [nn.Conv2d] and kinds[1:2] == [nn.BatchNorm2d]:
            size = 3 if kinds[2:3] == [nn.ReLU] else 2
        elif kinds[:1] == [nn.Linear] and kinds[1:2] == [nn.ReLU]:
            size = 2
        else:
            i += 1
            continue
        groups.append([f"{prefix}{j}" for j in range(i, i + size)])
        i += size
    return groups


def fused_float(model: nn.Sequential) -> nn.Module:
    """The float32 model prepared as :func:`static_int8` prepares it, batch norm folded into each convolution and
    the ReLUs fused, but not quantized: the baseline that tells what int8 arithmetic itself buys."""
    with quiet_deprecations(), torch.no_grad():
        model = copy_model(model).cpu().eval()
        return tq.fuse_modules(model, fusion_groups(model, prefix="")).eval()


def static_int8(model: nn.Sequential, calibration_images: torch.Tensor, *, batch_size: int = 256,
                engine: str | None = None) -> nn.Module:
    """Post-training static quantization: fuse conv-bn-relu, observe activation ranges on calibration images
    (uint8, N x 28 x 28), convert to int8 modules that run PyTorch's quantized CPU kernels."""
    if len(calibration_images) == 0:
        raise ValueError("calibration_images must hold at least one image")
    engine = engine or backend()
    torch.backends.quantized.engine = engine
    wrapped = QuantizedWrapper(copy_model(model).cpu().eval())
    with quiet_deprecations(), torch.no_grad():
        fused = tq.fuse_modules(wrapped, fusion_groups(wrapped.model))
        fused.qconfig = tq.get_default_qconfig(engine)
        prepared = tq.prepare(fused)
        labels = torch.zeros(len(calibration_images), dtype=torch.long)
        for x, _ in data.batches(calibration_images, labels, batch_size):
            prepared(x)
        return tq.convert(prepared).eval()


def dynamic_int8(model: nn.Module) -> nn.Module:
    """Dynamic quantization: Linear weights stored as int8, activations quantized on the fly at each call."""
    with quiet_deprecations():
        return tq.quantize_dynamic(copy_model(model).cpu().eval(), {nn.Linear}, dtype=torch.qint8)
