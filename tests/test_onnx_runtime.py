"""kdviz.onnx_runtime: the teacher exported to ONNX and run by ONNX Runtime, float32 and int8, checked against
PyTorch's own forward pass and against per-channel weight quantization written out here."""
from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from torch import nn

from conftest import small_trained_teacher
from kdviz import int8, measure, models, onnx_runtime, train

pytest.importorskip("onnxruntime", reason="ONNX Runtime is in requirements.txt; pip install -r requirements.txt")
onnx = pytest.importorskip("onnx")
numpy_helper = onnx.numpy_helper


@pytest.fixture(scope="module")
def trained():
    return small_trained_teacher()


@pytest.fixture(scope="module")
def runtimes(trained):
    model, images, _ = trained
    float_model = onnx_runtime.OrtModel(onnx_runtime.export(model))
    return float_model, onnx_runtime.OrtModel(onnx_runtime.quantize_static(float_model.model_bytes, images[:200]))


def test_float_model_computes_pytorch_logits_at_any_batch_size(trained, runtimes):
    model, images, _ = trained
    float_model, _ = runtimes
    for batch in (1, 7, 256):
        x = torch.randn(batch, 1, 28, 28)
        with torch.no_grad():
            expected = model(x)
        got = float_model(x)
        assert got.shape == expected.shape and got.dtype == torch.float32
        assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert torch.allclose(train.predict_logits(float_model, images), train.predict_logits(model, images), atol=1e-4)


def test_int8_weights_are_one_symmetric_7_bit_scale_per_output_channel(trained, runtimes):
    """Each convolution's int8 weights are its float weights with batch norm folded in (written out here), divided
    by one scale per output channel, max |w| / 64 (7 bits, symmetric), and rounded."""
    model, _, _ = trained
    _, int8_model = runtimes
    graph = onnx.load_from_string(int8_model.model_bytes).graph
    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    weights = [(initializers[node.input[0]], initializers[node.input[1]]) for node in graph.node
               if node.op_type == "DequantizeLinear" and node.input[0] in initializers
               and initializers[node.input[0]].dtype == np.int8]
    assert len(weights) == 6  # four convolutions and two linear layers
    for codes, scales in weights:
        assert scales.size in codes.shape  # one scale per output channel
        assert codes.min() >= -64 and codes.max() <= 64
    pairs = [(conv, batch_norm) for conv, batch_norm in zip(model, list(model)[1:])
             if isinstance(conv, nn.Conv2d) and isinstance(batch_norm, nn.BatchNorm2d)]
    by_shape = {codes.shape: (codes, scales) for codes, scales in weights}
    assert len(pairs) == 4 and len(by_shape) == 6
    for conv, batch_norm in pairs:
        codes, scales = by_shape[tuple(conv.weight.shape)]
        gain = batch_norm.weight / torch.sqrt(batch_norm.running_var + batch_norm.eps)
        folded = (conv.weight * gain[:, None, None, None]).detach().double().numpy()
        expected_scales = np.abs(folded).reshape(len(folded), -1).max(axis=1) / 64
        np.testing.assert_allclose(scales, expected_scales, rtol=1e-5)
        np.testing.assert_array_equal(codes, np.round(folded / expected_scales[:, None, None, None]).astype(np.int8))


def test_int8_model_is_close_to_float_smaller_and_runs_integer_kernels(trained, runtimes):
    model, images, labels = trained
    float_model, int8_model = runtimes
    assert float_model.file_bytes / int8_model.file_bytes > 2.5  # a small model: the graph is a larger share
    assert {"com.microsoft.QLinearConv", "QLinearConv"} & set(int8_model.operators())
    assert not any("BatchNormalization" in m.operators() for m in runtimes)
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        reference = model(x)
    assert (int8_model(x) - reference).abs().max() < 0.1 * reference.abs().max() + 0.05
    float_accuracy = train.evaluate(float_model, images, labels).accuracy
    assert abs(train.evaluate(int8_model, images, labels).accuracy - float_accuracy) < 0.05


def test_a_copy_runs_on_as_many_threads_as_pytorch_has_then(runtimes):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert models.copy_model(runtimes[0]).threads == 1
    finally:
        torch.set_num_threads(before)
    assert models.copy_model(runtimes[0]).threads == before


def test_ort_models_are_measured_like_pytorch_models(runtimes):
    float_model, int8_model = runtimes
    copied = models.copy_model(float_model)  # as measure.latencies copies every model it times
    table = measure.summary({"float": float_model, "int8": int8_model}, counts=False, min_run_time=0.01, repeats=2,
                            file_bytes={"float": float_model.file_bytes, "int8": int8_model.file_bytes})
    assert table.loc["int8", "bytes"] == int8_model.file_bytes
    assert (table["ms @ batch 256"] > 0).all()
    assert torch.equal(copied(torch.ones(1, 1, 28, 28)), float_model(torch.ones(1, 1, 28, 28)))


def test_operators_of_both_runtimes(trained, runtimes):
    model, images, _ = trained
    static = int8.static_int8(model, images[:100])
    assert onnx_runtime.pytorch_operators(static) == {"Quantize": 1, "DeQuantize": 1, "ConvReLU2d": 4,
                                                      "MaxPool2d": 2, "Flatten": 1, "LinearReLU": 1, "Linear": 1}
    assert onnx_runtime.pytorch_operators(model)["BatchNorm2d"] == 4
    counts = runtimes[0].operators()
    assert sum(count for operator, count in counts.items() if operator.endswith("Conv")) == 4


def test_bad_input_says_which_argument(trained):
    model, images, _ = trained
    with pytest.raises(ValueError, match="model must be an ONNX file's bytes"):
        onnx_runtime.OrtModel(b"")
    with pytest.raises(ValueError, match="threads must be a positive integer or None"):
        onnx_runtime.OrtModel(b"not used", threads=0)
    with pytest.raises(ValueError, match="calibration_images must hold at least one image"):
        onnx_runtime.quantize_static(onnx_runtime.export(model), images[:0])
    with pytest.raises(ValueError, match="model must be a float32 model"):
        onnx_runtime.export(int8.static_int8(model, images[:50]))
    with pytest.raises(ValueError, match="model must be a float32 model"):
        onnx_runtime.export(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)).half())


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    real = importlib.import_module

    def without_onnxruntime(name, *args, **kwargs):
        if name.startswith("onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", without_onnxruntime)
    with pytest.raises(ModuleNotFoundError, match="requirements.txt"):
        onnx_runtime.OrtModel(b"not used")
