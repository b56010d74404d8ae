"""scikit-learn's handwritten digits as a 28×28 MNIST look-alike that needs no download.

Why: the quickstart, the CLI tests and CI must run anywhere, offline, in seconds. The
1,797 8×8 digits ship inside scikit-learn; resized to 28×28 they have MNIST's shape and
classes, so the same networks (SmallCNN, Paper A's MNISTNet) and configs apply unchanged.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import Tensor
from torch.nn import functional as F

from robustlens.data.base import ImageDataModule

#: the fixed test share and split seed (the split is part of the dataset's definition)
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def load_digits_28(size: int = 28) -> tuple[Tensor, Tensor]:
    """All 1,797 digits as float ``[N, 1, size, size]`` in [0,1] (bilinear resize) and labels."""
    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0  # 0..16 → [0,1]
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    # bilinear weights are convex, so the range stays [0,1]; clamp only removes float noise
    return images.clamp_(0.0, 1.0), torch.as_tensor(bunch.target, dtype=torch.long)


class DigitsDataModule(ImageDataModule):
    """8×8 scikit-learn digits at 28×28: a fixed class-stratified 80/20 train/test split
    (1,437 / 360 images); ``data_dir`` is ignored."""

    name: ClassVar[str] = "digits"
    num_classes: ClassVar[int] = 10
    class_names: ClassVar[list[str]] = [str(d) for d in range(10)]
    input_shape: ClassVar[tuple[int, int, int]] = (1, 28, 28)

    _cache: ClassVar[tuple[Tensor, Tensor, Tensor, Tensor] | None] = None

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        if DigitsDataModule._cache is None:
            images, labels = load_digits_28()
            train_pos, test_pos = train_test_split(
                torch.arange(len(labels)).numpy(), test_size=TEST_FRACTION,
                random_state=SPLIT_SEED, stratify=labels.numpy(),
            )
            train_pos, test_pos = torch.as_tensor(sorted(train_pos)), torch.as_tensor(sorted(test_pos))
            DigitsDataModule._cache = (
                images[train_pos], labels[train_pos], images[test_pos], labels[test_pos]
            )
        xtr, ytr, xte, yte = DigitsDataModule._cache
        return (xtr, ytr) if train else (xte, yte)
