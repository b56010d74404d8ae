"""Datamodules yielding ``(x in [0,1], y, index)`` batches, and their building blocks."""

from robustlens.data.base import ImageDataModule, IndexedImageDataset
from robustlens.data.cifar10 import CIFAR10DataModule
from robustlens.data.digits import DigitsDataModule
from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.mnist import FashionMNISTDataModule, MNISTDataModule
from robustlens.data.samplers import UnpaddedDistributedSampler

__all__ = [
    "CIFAR10DataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "IndexedImageDataset",
    "MNISTDataModule",
    "UnpaddedDistributedSampler",
]
