"""The published CIFAR-10-C arrays (Hendrycks & Dietterich, 2019) as a torch Dataset.

Layout expected (as distributed on Zenodo, record 2535967)::

    <root>/CIFAR-10-C/<corruption>.npy   uint8 [50000, 32, 32, 3]: severities 1..5 stacked
                                         in blocks of 10,000 (the CIFAR-10 test set each time)
    <root>/CIFAR-10-C/labels.npy         uint8 [50000]

The arrays are opened memory-mapped, so choosing one corruption/severity reads 10,000 images
only. Items are ``(x, y, index)`` with ``x`` float ``[3, 32, 32]`` in [0,1] and ``index`` the
position in the CIFAR-10 test set (0..9999): the same index as the clean image, so per-sample
results can be joined with clean ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar

import numpy as np
import torch
from pydantic import Field
from torch import Tensor
from torch.utils.data import Dataset

from robustlens.attacks.corruptions.functional import ALL_CORRUPTIONS, Severity, check_corruption
from robustlens.data.base import ImageDataModule
from robustlens.data.cifar10 import CLASS_NAMES as CIFAR10_CLASS_NAMES
from robustlens.data.errors import DatasetNotFoundError

PER_SEVERITY = 10_000
DOWNLOAD_HINT = (
    "Download CIFAR-10-C from https://zenodo.org/records/2535967 (CIFAR-10-C.tar) and unpack it "
    "so that <root>/CIFAR-10-C/<corruption>.npy and labels.npy exist (robustlens never downloads "
    "it at run time)."
)


class CIFAR10CNotFoundError(FileNotFoundError):
    """A CIFAR-10-C file is missing; the message names the expected path and where to get it."""


class CIFAR10C(Dataset):
    """One corruption at one severity of the published CIFAR-10-C.

    Args:
        root: folder that contains ``CIFAR-10-C/``.
        corruption: one of the 19 names (``robustlens.attacks.corruptions.ALL_CORRUPTIONS``).
        severity: 1..5.
        per_severity: images per severity block (10,000 in the published arrays; tests use less).
    """

    def __init__(
        self,
        root: str | Path,
        corruption: str,
        severity: Severity = 1,
        per_severity: Annotated[int, Field(ge=1)] = PER_SEVERITY,
    ):
        check_corruption(corruption, severity)
        self.root = Path(root)
        self.corruption = corruption
        self.severity = severity
        folder = self.root / "CIFAR-10-C"
        images_path, labels_path = folder / f"{corruption}.npy", folder / "labels.npy"
        for path in (images_path, labels_path):
            if not path.is_file():
                raise CIFAR10CNotFoundError(f"CIFAR-10-C file not found: {path}. {DOWNLOAD_HINT}")
        images = np.load(images_path, mmap_mode="r")
        labels = np.load(labels_path, mmap_mode="r")
        if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8:
            raise ValueError(
                f"{images_path} has shape {images.shape} and dtype {images.dtype}; "
                "expected uint8 [5*N, 32, 32, 3] (the published CIFAR-10-C layout)"
            )
        if images.shape[0] != 5 * per_severity or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"{images_path} holds {images.shape[0]} images and labels.npy {labels.shape[0]} labels; "
                f"expected 5 severities x {per_severity} = {5 * per_severity} of each"
            )
        start = (severity - 1) * per_severity
        self._images = images[start : start + per_severity]
        self._labels = labels[start : start + per_severity]

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> tuple[Tensor, int, int]:
        x = torch.from_numpy(np.array(self._images[i])).permute(2, 0, 1).float().div_(255)
        return x, int(self._labels[i]), int(i)

    @staticmethod
    def available(root: str | Path) -> tuple[str, ...]:
        """The corruption names whose ``.npy`` file exists under ``root``."""
        folder = Path(root) / "CIFAR-10-C"
        return tuple(n for n in ALL_CORRUPTIONS if (folder / f"{n}.npy").is_file())


class CIFAR10CDataModule(ImageDataModule):
    """The CIFAR-10-C test images of one corruption at one severity (evaluation only).

    Sweep ``data.corruption=fog,snow data.severity=1,2,3,4,5`` for the whole table. Sample
    indices are CIFAR-10 test positions, so per-sample results join with the clean ones.

    Args:
        corruption: one of the 19 published corruption names (``fog``, ``snow``, ...).
        severity: 1..5.
        folder_root: the folder that holds ``CIFAR-10-C/``, relative to ``data_dir``
            (``""``: ``data_dir`` itself).
        per_severity: images per severity block (10,000 in the published arrays).
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "CIFAR10C"
    num_classes: ClassVar[int] = 10
    class_names: ClassVar[list[str]] = CIFAR10_CLASS_NAMES
    input_shape: ClassVar[tuple[int, int, int]] = (3, 32, 32)

    def __init__(
        self,
        corruption: str = "gaussian_noise",
        severity: Severity = 1,
        folder_root: str = "",
        per_severity: Annotated[int, Field(ge=1)] = PER_SEVERITY,
        data_dir: str | None = None,
        batch_size: Annotated[int, Field(gt=0)] = 128,
        eval_batch_size: Annotated[int, Field(gt=0)] | None = None,
        num_workers: Annotated[int, Field(ge=0)] = 0,
        seed: int = 0,
        test_subset: Annotated[int, Field(gt=0)] | None = None,
        pin_memory: bool = False,
        num_classes: Annotated[int, Field(ge=2)] | None = None,
        class_names: list[str] | None = None,
    ):
        check_corruption(corruption, severity)
        self.corruption = corruption
        self.severity = severity
        self.folder_root = folder_root
        self.per_severity = per_severity
        super().__init__(
            data_dir=data_dir, batch_size=batch_size, eval_batch_size=eval_batch_size, num_workers=num_workers,
            seed=seed, test_subset=test_subset, pin_memory=pin_memory, num_classes=num_classes,
            class_names=class_names,
        )

    @property
    def root(self) -> Path:
        return self.data_dir / self.folder_root

    def check_files(self) -> None:
        folder = self.root / "CIFAR-10-C"
        missing = [p for p in (folder / f"{self.corruption}.npy", folder / "labels.npy") if not p.is_file()]
        if missing:
            prefix = f"{self.folder_root}/" if self.folder_root else ""
            raise DatasetNotFoundError(
                self.name, self.data_dir, looked_for=missing,
                layout=[f"{prefix}CIFAR-10-C/<corruption>.npy", f"{prefix}CIFAR-10-C/labels.npy"],
                source="download CIFAR-10-C.tar from https://zenodo.org/records/2535967 and unpack it into data_dir",
            )

    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        if train:
            raise ValueError(
                "CIFAR-10-C is a test set (corrupted CIFAR-10 test images); train on `data=cifar10` and "
                "evaluate with `data=cifar10c`"
            )
        self.check_files()
        ds = CIFAR10C(self.root, self.corruption, self.severity, per_severity=self.per_severity)
        images = torch.from_numpy(np.ascontiguousarray(ds._images)).permute(0, 3, 1, 2).contiguous()
        labels = torch.from_numpy(np.asarray(ds._labels, dtype=np.int64))
        return images, labels
