"""Classifier sources: models from model zoos and files, each in robustlens' contract.

One module per source (``classifier=<source>``): RobustBench's model zoo, timm, torchvision,
TorchScript files and any ``nn.Module`` with a state dict. Every loader returns a
:class:`~robustlens.models.classifiers.sources.contract.ZooClassifier` ([0,1] images in, logits
out, normalisation inside) after the checks of
:mod:`~robustlens.models.classifiers.sources.checks`. docs/models-and-data.md describes them.
"""

from robustlens.models.classifiers.sources.contract import ZooClassifier
from robustlens.models.classifiers.sources.errors import ModelSourceError
from robustlens.models.classifiers.sources.module_source import load_module
from robustlens.models.classifiers.sources.robustbench_source import load_robustbench, published_info
from robustlens.models.classifiers.sources.timm_source import load_timm
from robustlens.models.classifiers.sources.torchscript_source import load_torchscript
from robustlens.models.classifiers.sources.torchvision_source import load_torchvision

__all__ = [
    "ModelSourceError",
    "ZooClassifier",
    "load_module",
    "load_robustbench",
    "load_timm",
    "load_torchscript",
    "load_torchvision",
    "published_info",
]
