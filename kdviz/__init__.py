"""kdviz: a workbook of neural-network compression, one notebook a technique.

Modules: ``config`` (profile, seed, device), ``data`` (Fashion-MNIST, MNIST), ``models`` (the zoo),
``train`` (fit, evaluate, the checkpoint cache), ``cache`` (atomic writes, cached results), ``measure``
(parameters, bytes, MACs, latency), ``landscape`` (torchvision's ImageNet classifiers), ``architectures``
(1x1, depthwise-separable and fire convolutions), ``prune``, ``obd``, ``shrink`` and ``pruning_runs`` (pruning),
``quantize``, ``activations``, ``int8`` and ``quantization_runs`` (quantization), ``distill`` and ``experiments``
(knowledge distillation), ``combine`` (the techniques chained), ``pareto`` (every model on one chart),
``adversarial`` (defensive distillation against FGSM), ``plots``, ``widgets`` and ``checks`` (exercises).
"""
from kdviz import (activations, adversarial, architectures, cache, checks, combine, config, data, distill, experiments,
                   int8, landscape, measure, models, obd, pareto, plots, prune, pruning_runs, quantization_runs, quantize,
                   shrink, train, widgets)
from kdviz.config import setup

__version__ = "0.1.0"
__all__ = ["activations", "adversarial", "architectures", "cache", "checks", "combine", "config", "data", "distill",
           "experiments", "int8", "landscape", "measure", "models", "obd", "pareto", "plots", "prune", "pruning_runs",
           "quantization_runs", "quantize", "shrink", "train", "widgets", "setup", "__version__"]
