"""kdviz: a workbook of neural-network compression, one notebook a technique.

Modules: ``config`` (profile, seed, device), ``data`` (Fashion-MNIST, MNIST), ``models`` (the zoo),
``train`` (fit, evaluate, the checkpoint cache), ``cache`` (atomic writes, cached results), ``measure``
(parameters, bytes, MACs, latency), ``landscape`` (torchvision's ImageNet classifiers), ``architectures``
(1x1, depthwise-separable and fire convolutions), ``prune``, ``obd``, ``shrink`` and ``pruning_runs`` (pruning),
``distill`` and ``experiments`` (knowledge distillation), ``plots``, ``widgets`` and ``checks`` (exercises).
"""
from kdviz import (architectures, cache, checks, config, data, distill, experiments, landscape, measure, models, obd,
                   plots, prune, pruning_runs, shrink, train, widgets)
from kdviz.config import setup

__version__ = "0.1.0"
__all__ = ["architectures", "cache", "checks", "config", "data", "distill", "experiments", "landscape", "measure",
           "models", "obd", "plots", "prune", "pruning_runs", "shrink", "train", "widgets", "setup", "__version__"]
