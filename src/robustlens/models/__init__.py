"""Networks and the Lightning modules that train them."""

from robustlens.models.classifier_module import ClassifierModule, load_classifier_checkpoint
from robustlens.models.normalize import Normalize

__all__ = ["ClassifierModule", "Normalize", "load_classifier_checkpoint"]
