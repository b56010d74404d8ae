"""Classifier networks. Every one takes [0,1] images, owns its normalisation, returns logits,
and names its penultimate feature module in ``penultimate_layer`` (for a forward hook)."""

from robustlens.models.classifiers.buzhinsky import (
    MNISTNet,
    buzhinsky_weights_path,
    load_buzhinsky_classifier,
)
from robustlens.models.classifiers.cifar import CIFAR10_MEAN, CIFAR10_STD, PreActResNet18, WideResNet
from robustlens.models.classifiers.small_cnn import MNIST_MEAN, MNIST_STD, SmallCNN

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "MNISTNet",
    "PreActResNet18",
    "SmallCNN",
    "WideResNet",
    "buzhinsky_weights_path",
    "load_buzhinsky_classifier",
]
