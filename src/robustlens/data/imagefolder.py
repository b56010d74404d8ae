"""Any folder of images sorted into one sub-folder per class (torchvision's ``ImageFolder`` layout).

Layout::

    <data_dir>/<folder>/<train_split>/<class>/<image>.{jpg,png,...}
    <data_dir>/<folder>/<test_split>/<class>/<image>.{jpg,png,...}

Classes are the sub-folder names in sorted order (as ``ImageFolder`` numbers them), so a
model trained with torchvision's ``ImageFolder`` gets the same label indices. Images may have
any size: ``resize``/``crop`` give them one. Only the test split is needed to evaluate; a
missing train split is reported when training asks for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from robustlens.data.base import DATA_DIR_ENV
from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.files_base import FileImageDataModule, Size
from robustlens.data.images import IMAGE_EXTENSIONS, FileRecords, image_files_under


def class_folders(split_dir: Path) -> list[str]:
    """The class sub-folders of a split folder, sorted (hidden folders skipped)."""
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def folder_records(split_dir: Path, classes: list[str]) -> tuple[FileRecords, Tensor]:
    """Every image under ``split_dir/<class>/`` with the class's index as its label."""
    paths: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes):
        folder = split_dir / name
        files = image_files_under(folder) if folder.is_dir() else []
        paths += files
        labels += [index] * len(files)
    return FileRecords(paths), torch.tensor(labels, dtype=torch.long)


class ImageFolderDataModule(FileImageDataModule):
    """Images in class sub-folders: classes from the folder names, any image size.

    Args:
        folder: the dataset folder under ``data_dir`` (``""``: ``data_dir`` itself).
        train_split: sub-folder of the training images.
        test_split: sub-folder of the test images (the one evaluation reads).
        resize, crop, channels: see :class:`~robustlens.data.files_base.FileImageDataModule`.
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "imagefolder"

    def __init__(
        self,
        folder: str = "",
        train_split: str = "train",
        test_split: str = "test",
        resize: Size = None,
        crop: Size = None,
        channels: Annotated[int, Field(ge=1, le=3)] = 3,
        **base: Any,
    ):
        self.folder = folder
        self.train_split = train_split
        self.test_split = test_split
        self.classes = self._scan_classes(base.get("data_dir"))
        self.num_classes = len(self.classes)
        self.class_names = list(self.classes)
        super().__init__(resize=resize, crop=crop, channels=channels, **base)

    @property
    def root(self) -> Path:
        return self.data_dir / self.folder

    def _split_dir(self, train: bool) -> Path:
        return self.root / (self.train_split if train else self.test_split)

    def _scan_classes(self, data_dir: str | None) -> list[str]:
        root = Path(data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV, "data")) / self.folder
        test_dir = root / self.test_split
        if not test_dir.is_dir() or not class_folders(test_dir):
            raise self._not_found(root, [test_dir])
        classes = class_folders(test_dir)
        if len(classes) < 2:
            raise ValueError(
                f"{test_dir} holds {len(classes)} class folder ({classes}); a classification dataset needs "
                "at least 2 class sub-folders"
            )
        return classes

    def _not_found(self, root: Path, looked_for: list[Path]) -> DatasetNotFoundError:
        data_dir = root.parent if self.folder else root
        prefix = f"{self.folder}/" if self.folder else ""
        return DatasetNotFoundError(
            self.name, data_dir, looked_for=looked_for,
            layout=[
                f"{prefix}{self.test_split}/<class name>/<image>{{{','.join(IMAGE_EXTENSIONS)}}}",
                f"{prefix}{self.train_split}/<class name>/<image>  (only for training)",
            ],
            source="arrange your images in one sub-folder per class (the folder name is the class name)",
        )

    def check_files(self) -> None:
        if not self._split_dir(False).is_dir():
            raise self._not_found(self.root, [self._split_dir(False)])

    def split_records(self, train: bool) -> tuple[FileRecords, Tensor]:
        split_dir = self._split_dir(train)
        if not split_dir.is_dir():
            raise self._not_found(self.root, [split_dir])
        found = class_folders(split_dir)
        extra = sorted(set(found) - set(self.classes))
        if extra:
            raise ValueError(
                f"{split_dir} has class folders the test split lacks: {extra}; both splits must hold the "
                f"same classes ({self.classes})"
            )
        return folder_records(split_dir, self.classes)

