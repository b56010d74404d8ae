"""A CIFAR-100-shaped synthetic datamodule (100 classes, 3×32×32), for the class-count tests."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from robustlens.data.base import ImageDataModule


class Synthetic100DataModule(ImageDataModule):
    """Deterministic random images, 4 test / 6 train images per class of 100 classes."""

    name: ClassVar[str] = "Synthetic100"
    num_classes: ClassVar[int] = 100
    class_names: ClassVar[list[str]] = [f"class{c:02d}" for c in range(100)]
    input_shape: ClassVar[tuple[int, int, int]] = (3, 32, 32)

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        per_class = 6 if train else 4
        gen = torch.Generator().manual_seed(1 if train else 2)
        labels = torch.arange(100).repeat_interleave(per_class)
        images = torch.randint(0, 256, (len(labels), 3, 32, 32), generator=gen, dtype=torch.uint8)
        return images, labels
