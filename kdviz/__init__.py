"""kdviz: a workbook of neural-network compression, one notebook a technique."""
from kdviz import config, data, models, train
from kdviz.config import setup

__version__ = "0.1.0"
__all__ = ["config", "data", "models", "train", "setup", "__version__"]
