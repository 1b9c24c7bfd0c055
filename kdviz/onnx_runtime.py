"""A second real runtime: a model exported to ONNX and run by ONNX Runtime on the CPU, in float32 and in int8 by
ONNX Runtime's own post-training static quantization (introduced in 03).

An :class:`OrtModel` is an ``nn.Module`` whose forward pass calls an ONNX Runtime session, so that kdviz's
measurements (``measure.summary``, ``train.evaluate``) time and score it exactly as they do PyTorch's models.
"""
from __future__ import annotations

import collections
import importlib
import io
import os
import tempfile
from types import ModuleType

import torch
from torch import nn

from kdviz import data
from kdviz.models import INPUT_SHAPE, copy_model

PACKAGES = ("onnx", "onnxruntime", "onnxscript")


def _require(module: str) -> ModuleType:
    """Import ``module`` (one of PACKAGES' parts), or say how to install what is missing."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ModuleNotFoundError(
            f"{module} is not installed: ONNX Runtime's section needs {', '.join(PACKAGES)} "
            f"(pip install -r requirements.txt installs the pinned versions)") from error


def export(model: nn.Module, input_shape: tuple[int, ...] = INPUT_SHAPE) -> bytes:
    """The float32 model as an ONNX file's bytes (``torch.onnx.export``, the ``torch.export``-based exporter), with
    the batch size left free: input "images" (batch, *input_shape), output "logits"."""
    _require("onnxscript")
    if any(parameter.dtype != torch.float32 for parameter in model.parameters()) \
            or any(".quantized" in type(module).__module__ for module in model.modules()):
        raise ValueError("model must be a float32 model (export the float32 teacher; ONNX Runtime quantizes it)")
    cpu_model = copy_model(model).cpu().eval().to(memory_format=torch.contiguous_format)
    example = torch.zeros(2, *input_shape)
    program = torch.onnx.export(cpu_model, (example,), input_names=["images"], output_names=["logits"],
                                dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True, verbose=False)
    buffer = io.BytesIO()
    _require("onnx").save_model(program.model_proto, buffer)
    return buffer.getvalue()


class _Calibration:
    """ONNX Runtime's calibration reader: the calibration images, normalized as the model saw them in training."""

    def __init__(self, images: torch.Tensor, batch_size: int, name: str) -> None:
        labels = torch.zeros(len(images), dtype=torch.long)
        self._batches = iter([{"images": x.contiguous().numpy()}
                              for x, _ in data.batches(images, labels, batch_size, name=name)])

    def get_next(self) -> dict | None:
        return next(self._batches, None)


def quantize_static(float_model: bytes, calibration_images: torch.Tensor, *, batch_size: int = 256,
                    name: str = "fashion-mnist") -> bytes:
    """ONNX Runtime's post-training static quantization of a float ONNX model (bytes from :func:`export`), by its
    own recipe: shapes inferred and the graph simplified first (``quant_pre_process``), then weights int8 with one
    scale per output channel, activations uint8 with ranges observed (min/max) on ``calibration_images`` (uint8,
    N x 28 x 28), written as QuantizeLinear/DequantizeLinear pairs that ONNX Runtime turns into integer kernels
    when it loads the model. The weights use 7 of their 8 bits (``reduce_range``), as ONNX Runtime advises on x86
    CPUs without VNNI, where its uint8 x int8 kernels could otherwise overflow."""
    quantization = _require("onnxruntime.quantization")
    if len(calibration_images) == 0:
        raise ValueError("calibration_images must hold at least one image")
    with tempfile.TemporaryDirectory() as folder:
        source, prepared, target = (os.path.join(folder, f"{stage}.onnx") for stage in ("float", "prepared", "int8"))
        with open(source, "wb") as file:
            file.write(float_model)
        quantization.shape_inference.quant_pre_process(source, prepared)  # ONNX Runtime's recipe: shapes, folding
        quantization.quantize_static(
            prepared, target, _Calibration(calibration_images, batch_size, name),
            quant_format=quantization.QuantFormat.QDQ, per_channel=True, reduce_range=True,
            activation_type=quantization.QuantType.QUInt8, weight_type=quantization.QuantType.QInt8,
            calibrate_method=quantization.CalibrationMethod.MinMax)
        with open(target, "rb") as file:
            return file.read()


class OrtModel(nn.Module):
    """An ONNX model run by ONNX Runtime's CPU execution provider with every graph optimization on, as an
    ``nn.Module``: float32 images in, logits out (a torch tensor). It uses as many threads as PyTorch does when it
    is built (or copied, as ``measure.latencies`` copies every model it times), so that both runtimes are timed
    alike; ``threads`` fixes the number instead."""

    def __init__(self, model: bytes, threads: int | None = None) -> None:
        super().__init__()
        if not isinstance(model, bytes) or not model:
            raise ValueError("model must be an ONNX file's bytes (from onnx_runtime.export or quantize_static)")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer or None (PyTorch's), got {threads!r}")
        self.model_bytes, self._fixed_threads = model, threads
        self.threads = threads or torch.get_num_threads()
        self._session, self._optimized = self._start()

    def _start(self):
        runtime = _require("onnxruntime")
        options = runtime.SessionOptions()
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads, options.inter_op_num_threads = self.threads, 1
        options.log_severity_level = 3  # errors only: not its note that an optimized graph is machine-specific
        with tempfile.TemporaryDirectory() as folder:
            options.optimized_model_filepath = os.path.join(folder, "optimized.onnx")
            session = runtime.InferenceSession(self.model_bytes, options, providers=["CPUExecutionProvider"])
            optimized = _require("onnx").load(options.optimized_model_filepath)
        return session, optimized

    @property
    def file_bytes(self) -> int:
        """Bytes of the ONNX file: what the model costs on disk."""
        return len(self.model_bytes)

    def operators(self) -> dict[str, int]:
        """The operators of the graph ONNX Runtime runs, after its fusions, with how many of each (in order of
        first use), an operator outside the ONNX standard prefixed with its domain (``com.microsoft.nchwc.Conv``):
        what the runtime made of the model."""
        return dict(collections.Counter(f"{node.domain}.{node.op_type}" if node.domain else node.op_type
                                        for node in self._optimized.graph.node))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self._session.run(None, {"images": images.detach().float().contiguous().cpu().numpy()})[0]
        return torch.from_numpy(logits)

    def __deepcopy__(self, memo: dict) -> "OrtModel":
        return OrtModel(self.model_bytes, self._fixed_threads)  # None: as many threads as PyTorch has now

    def extra_repr(self) -> str:
        return f"{self.file_bytes:,} bytes, {self.threads} threads"


def pytorch_operators(model: nn.Module) -> dict[str, int]:
    """The layers of a PyTorch model that compute, by type, with how many of each (in order of first use): what
    PyTorch's conversion made of it, to set beside :meth:`OrtModel.operators`. Containers, the Identity layers
    left where fusion removed a layer, and Dropout (nothing at inference) are left out."""
    kinds = []
    for module in model.modules():
        children = [type(child).__name__ for child in module.children()]
        if isinstance(module, (nn.Identity, nn.Dropout)) or type(module).__name__ == "LinearPackedParams" \
                or any(child != "LinearPackedParams" for child in children):
            continue  # a quantized Linear's only child holds its packed weights: the Linear is the layer
        kinds.append(type(module).__name__)
    return dict(collections.Counter(kinds))
