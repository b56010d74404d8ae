"""CIFAR-10 from the original ``cifar-10-batches-py`` pickles, read by our own reader.

Why not ``torchvision.datasets.CIFAR10``: it checks the md5 of every batch file, so it can
only read the exact published bytes; tests (and users with re-packed copies) need to read
any file in the same format. The format is simple: each batch is a pickled dict with
``data`` (uint8 ``[N, 3072]``, channel-major 3×32×32) and ``labels`` (N ints);
``batches.meta`` holds ``label_names``. The pickles are read with a restricted unpickler
that only allows the numpy classes the format needs, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor

from robustlens.data.base import ImageDataModule
from robustlens.data.errors import DatasetNotFoundError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META = "batches.meta"
CLASS_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"CIFAR-10 batch files may not contain {module}.{name}")
        return super().find_class(module, name)


def load_cifar_pickle(path: Path) -> dict[str, Any]:
    """One CIFAR pickle as a dict with ``str`` keys (Python 2 pickles, hence latin1)."""
    with open(path, "rb") as f:
        obj = _ArrayUnpickler(f, encoding="latin1").load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path} is not a CIFAR batch file (a pickled dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 [N, 3, 32, 32], labels int64 [N])`` of one batch file."""
    batch = load_cifar_pickle(path)
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path} lacks the 'data'/'labels' entries of a CIFAR-10 batch")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or labels.shape != (data.shape[0],):
        raise ValueError(f"{path}: data {data.shape}, labels {labels.shape}; expected [N, 3072] and N labels")
    return data.reshape(-1, 3, 32, 32), labels


class CIFAR10DataModule(ImageDataModule):
    """CIFAR-10: 50,000 train / 10,000 test colour images, 3×32×32, 10 classes."""

    name: ClassVar[str] = "CIFAR10"
    num_classes: ClassVar[int] = 10
    class_names: ClassVar[list[str]] = CLASS_NAMES
    input_shape: ClassVar[tuple[int, int, int]] = (3, 32, 32)

    @property
    def folder(self) -> Path:
        return self.data_dir / FOLDER

    def check_files(self) -> None:
        files = [*TRAIN_BATCHES, TEST_BATCH]
        missing = [self.folder / f for f in files if not (self.folder / f).is_file()]
        if missing:
            raise DatasetNotFoundError(
                self.name, self.data_dir, looked_for=missing,
                layout=[f"{FOLDER}/{f}" for f in (*files, META)],
                source="unpack the python version (cifar-10-python.tar.gz, "
                "https://www.cs.toronto.edu/~kriz/cifar.html) into data_dir",
            )

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        self.check_files()
        parts = [read_cifar_batch(self.folder / f) for f in (TRAIN_BATCHES if train else (TEST_BATCH,))]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        return torch.from_numpy(images), torch.from_numpy(labels)
