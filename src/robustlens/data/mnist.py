"""MNIST and Fashion-MNIST from torchvision's root layout, read-only, never downloading.

Layout: ``<data_dir>/<MNIST|FashionMNIST>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``.
The IDX files are read directly, compressed or not (:mod:`robustlens.data.idx` says why):
the data folder is never written to, so a shared read-only copy holding only the ``.gz``
files works as is.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor

from robustlens.data.base import ImageDataModule
from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.idx import read_idx

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class _IDXDataModule(ImageDataModule):
    """Shared reader of the two IDX datasets; subclasses set ``folder`` and the names."""

    folder: ClassVar[str] = ""
    input_shape: ClassVar[tuple[int, int, int]] = (1, 28, 28)
    num_classes: ClassVar[int] = 10

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / self.folder / "raw"

    def _find(self, stem: str) -> Path | None:
        for candidate in (self.raw_dir / stem, self.raw_dir / f"{stem}.gz"):
            if candidate.is_file():
                return candidate
        return None

    def check_files(self) -> None:
        stems = [s for pair in _FILES.values() for s in pair]
        missing = [s for s in stems if self._find(s) is None]
        if missing:
            raise DatasetNotFoundError(
                self.name,
                self.data_dir,
                looked_for=[self.raw_dir / f"{s}{ext}" for s in missing for ext in ("", ".gz")],
                layout=[f"{self.folder}/raw/{s}[.gz]" for s in stems],
            )

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        self.check_files()
        image_stem, label_stem = _FILES[train]
        images = read_idx(self._find(image_stem))  # type: ignore[arg-type]
        labels = read_idx(self._find(label_stem))  # type: ignore[arg-type]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != (images.shape[0],):
            raise ValueError(
                f"{self.name} {'train' if train else 'test'} files disagree: images {images.shape}, "
                f"labels {labels.shape}; expected [N, 28, 28] images and N labels"
            )
        return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype("int64"))


class MNISTDataModule(_IDXDataModule):
    """MNIST: 60,000 train / 10,000 test handwritten digits, 1×28×28."""

    name: ClassVar[str] = "MNIST"
    folder: ClassVar[str] = "MNIST"
    class_names: ClassVar[list[str]] = [str(d) for d in range(10)]


class FashionMNISTDataModule(_IDXDataModule):
    """Fashion-MNIST: 60,000 train / 10,000 test Zalando article images, 1×28×28."""

    name: ClassVar[str] = "FashionMNIST"
    folder: ClassVar[str] = "FashionMNIST"
    class_names: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]
