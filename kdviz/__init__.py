"""kdviz: a workbook of neural-network compression, one notebook a technique.

Layers, bottom to top (nothing imports upward; ``lint-imports`` checks it):

* foundation: ``config`` (every knob of a profile, device, folders), ``cache``, ``data``, ``architectures``,
  ``models`` (the zoo and its helpers), ``train``, ``measure``;
* techniques: ``landscape``, ``pareto``, ``prune``, ``quantize``, ``distill``, then ``obd``, ``sparse``,
  ``channel_pruning``, ``calibration``, ``int8``;
* cached runs: ``pruning_runs``, ``quantization_runs``, ``distillation_runs``, ``adversarial``, then
  ``pipeline_runs`` and ``pareto_runs``;
* presentation: ``plots`` and ``checks``, ``widgets``, ``session`` (``kdviz.setup``);
* tools: ``runner`` (a notebook in a kernel), ``plan`` (every cached run, as jobs), ``pack`` (an archive of a
  prepared cache), ``prepare``, ``__main__``.

``import kdviz`` is light: each module is imported the first time it is used (``kdviz.models``, ``kdviz.setup``).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
MODULES = ("config", "cache", "data", "architectures", "models", "train", "measure", "landscape", "pareto", "prune",
           "quantize", "distill", "obd", "sparse", "channel_pruning", "calibration", "int8", "pruning_runs",
           "quantization_runs", "distillation_runs", "adversarial", "pipeline_runs", "pareto_runs", "plots", "checks",
           "widgets", "session", "runner", "plan", "pack", "prepare")
__all__ = [*MODULES, "setup", "__version__"]


def __getattr__(name: str) -> object:
    """``kdviz.<module>`` imports that module on first use; ``kdviz.setup`` is :func:`kdviz.session.setup`."""
    if name == "setup":
        return importlib.import_module("kdviz.session").setup
    if name in MODULES:
        return importlib.import_module(f"kdviz.{name}")
    raise AttributeError(f"module 'kdviz' has no attribute {name!r}")
