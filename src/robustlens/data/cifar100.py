"""CIFAR-100 from the published ``cifar-100-python`` pickles, read by the CIFAR-10 reader.

Layout: ``<data_dir>/cifar-100-python/{train,test,meta}``. Each of ``train``/``test`` is a
pickled dict with ``data`` (uint8 ``[N, 3072]``, channel-major 3×32×32), ``fine_labels``
(0..99) and ``coarse_labels`` (0..19); ``meta`` holds ``fine_label_names`` and
``coarse_label_names``. ``label_type: coarse`` gives the 20 superclasses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from robustlens.data.base import ImageDataModule
from robustlens.data.cifar10 import load_cifar_pickle
from robustlens.data.errors import DatasetNotFoundError

FOLDER = "cifar-100-python"
SPLITS = {True: "train", False: "test"}
META = "meta"
#: the published label names (alphabetical, as in ``meta``)
FINE_NAMES = [
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl",
    "boy", "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair",
    "chimpanzee", "clock", "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin",
    "elephant", "flatfish", "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp",
    "lawn_mower", "leopard", "lion", "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain",
    "mouse", "mushroom", "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck",
    "pine_tree", "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake", "spider",
    "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone", "television",
    "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale", "willow_tree", "wolf",
    "woman", "worm",
]
COARSE_NAMES = [
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes", "large_omnivores_and_herbivores",
    "medium_mammals", "non-insect_invertebrates", "people", "reptiles", "small_mammals", "trees",
    "vehicles_1", "vehicles_2",
]


class CIFAR100DataModule(ImageDataModule):
    """CIFAR-100: 50,000 train / 10,000 test colour images, 3×32×32, 100 (or 20 coarse) classes.

    Args:
        label_type: ``fine`` (100 classes) or ``coarse`` (20 superclasses).
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "CIFAR100"
    num_classes: ClassVar[int] = 100
    input_shape: ClassVar[tuple[int, int, int]] = (3, 32, 32)

    def __init__(
        self,
        label_type: Literal["fine", "coarse"] = "fine",
        **base: Any,
    ):
        if label_type not in ("fine", "coarse"):
            raise ValueError(f"CIFAR-100 label_type must be 'fine' or 'coarse', got {label_type!r}")
        self.label_type = label_type
        self.num_classes = 100 if label_type == "fine" else 20
        self.class_names = list(FINE_NAMES if label_type == "fine" else COARSE_NAMES)
        super().__init__(**base)

    @property
    def folder(self) -> Path:
        return self.data_dir / FOLDER

    def check_files(self) -> None:
        files = [*SPLITS.values(), META]
        missing = [self.folder / f for f in files if not (self.folder / f).is_file()]
        if missing:
            raise DatasetNotFoundError(
                self.name, self.data_dir, looked_for=missing, layout=[f"{FOLDER}/{f}" for f in files],
                source="unpack the python version (cifar-100-python.tar.gz, "
                "https://www.cs.toronto.edu/~kriz/cifar.html) into data_dir",
            )

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        self.check_files()
        path = self.folder / SPLITS[train]
        batch = load_cifar_pickle(path)
        key = f"{self.label_type}_labels"
        if "data" not in batch or key not in batch:
            raise ValueError(f"{path} lacks the 'data'/'{key}' entries of a CIFAR-100 file")
        data = np.asarray(batch["data"], dtype=np.uint8)
        labels = np.asarray(batch[key], dtype=np.int64)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
            raise ValueError(f"{path}: data {data.shape}, labels {labels.shape}; expected [N, 3072] and N labels")
        return torch.from_numpy(data.reshape(-1, 3, 32, 32)), torch.from_numpy(labels)
