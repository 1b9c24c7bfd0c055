"""kdviz: a workbook of neural-network compression, one notebook a technique.

Modules: ``config`` (profile, seed, device), ``data`` (Fashion-MNIST, MNIST), ``models`` (the zoo),
``train`` (fit, evaluate, the checkpoint cache), ``measure`` (parameters, bytes, MACs, latency),
``landscape`` (torchvision's ImageNet classifiers), ``plots``, ``widgets`` and ``checks`` (exercises).
"""
from kdviz import checks, config, data, landscape, measure, models, plots, train, widgets
from kdviz.config import setup

__version__ = "0.1.0"
__all__ = ["checks", "config", "data", "landscape", "measure", "models", "plots", "train", "widgets", "setup",
           "__version__"]
