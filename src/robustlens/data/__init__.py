"""Datamodules yielding ``(x in [0,1], y, index)`` batches, and their building blocks."""

from robustlens.data.base import ImageDataModule, IndexedImageDataset
from robustlens.data.celeba import CelebADataModule
from robustlens.data.cifar10 import CIFAR10DataModule
from robustlens.data.cifar10c import CIFAR10CDataModule
from robustlens.data.cifar100 import CIFAR100DataModule
from robustlens.data.digits import DigitsDataModule
from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.imagefolder import ImageFolderDataModule
from robustlens.data.imagenet import ImageNetValDataModule
from robustlens.data.lsun import LSUNDataModule
from robustlens.data.mnist import FashionMNISTDataModule, MNISTDataModule
from robustlens.data.samplers import UnpaddedDistributedSampler

__all__ = [
    "CIFAR10CDataModule",
    "CIFAR10DataModule",
    "CIFAR100DataModule",
    "CelebADataModule",
    "DatasetNotFoundError",
    "DigitsDataModule",
    "FashionMNISTDataModule",
    "ImageDataModule",
    "ImageFolderDataModule",
    "ImageNetValDataModule",
    "IndexedImageDataset",
    "LSUNDataModule",
    "MNISTDataModule",
    "UnpaddedDistributedSampler",
]
