"""kdviz: a workbook of neural-network compression, one notebook a technique.

Modules: ``config`` (profile, seed, device), ``data`` (Fashion-MNIST, MNIST), ``models`` (the zoo),
``train`` (fit, evaluate, the checkpoint cache), ``cache`` (atomic writes, cached results), ``measure``
(parameters, bytes, MACs, latency), ``landscape`` (torchvision's ImageNet classifiers), ``architectures``
(1x1 and depthwise-separable convolutions), ``distill`` and ``experiments`` (knowledge distillation),
``plots``, ``widgets`` and ``checks`` (exercises).
"""
from kdviz import (architectures, cache, checks, config, data, distill, experiments, landscape, measure, models,
                   plots, train, widgets)
from kdviz.config import setup

__version__ = "0.1.0"
__all__ = ["architectures", "cache", "checks", "config", "data", "distill", "experiments", "landscape", "measure",
           "models", "plots", "train", "widgets", "setup", "__version__"]
