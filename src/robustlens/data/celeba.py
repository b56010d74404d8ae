"""CelebA faces with one binary attribute as the class (``attribute: Male``: the gender task).

Layout, as published (Liu et al. 2015) and as torchvision's ``CelebA`` expects it::

    <data_dir>/<folder>/img_align_celeba/000001.jpg ... 202599.jpg   (178×218 aligned crops)
    <data_dir>/<folder>/list_attr_celeba.txt        count, the 40 attribute names, then one
                                                    line per image: name and 40 values ±1
    <data_dir>/<folder>/list_eval_partition.txt     "<image> <0|1|2>": train / valid / test

Label 1 means the attribute is present (+1), label 0 absent (−1). The default preprocessing
is Paper A's (``Resize(128)``, ``CenterCrop(128)``) and its test split the ``valid`` partition,
as the authors evaluated; ``test_split: test`` selects the official test partition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
import torch
from pydantic import Field
from torch import Tensor

from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.files_base import FileImageDataModule, Size
from robustlens.data.images import FileRecords

IMAGES = "img_align_celeba"
ATTRIBUTES = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"
PARTITIONS = {"train": 0, "valid": 1, "test": 2}


def read_attributes(path: Path) -> pd.DataFrame:
    """``list_attr_celeba.txt`` as a frame indexed by image name, one ±1 column per attribute."""
    with open(path) as f:
        f.readline()  # the image count
        names = f.readline().split()
        frame = pd.read_csv(f, sep=r"\s+", header=None, names=["image", *names], index_col=0)
    if frame.shape[1] != len(names) or frame.empty:
        raise ValueError(f"{path} is not CelebA's attribute list (count, names, then one row per image)")
    return frame


def read_partition(path: Path) -> pd.Series:
    """``list_eval_partition.txt`` as image name → 0 (train), 1 (valid), 2 (test)."""
    frame = pd.read_csv(path, sep=r"\s+", header=None, names=["image", "partition"], index_col=0)
    return frame["partition"]


class CelebADataModule(FileImageDataModule):
    """Aligned CelebA faces; the class is one attribute's presence (2 classes).

    Args:
        attribute: one of the 40 attribute names of ``list_attr_celeba.txt`` (``Male``,
            ``Smiling``, ``Young``, ...).
        folder: the CelebA folder under ``data_dir``.
        test_split: partition evaluated: ``valid`` (Paper A) or ``test``.
        resize, crop: default Paper A's ``Resize(128)``, ``CenterCrop(128)``.
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "CelebA"
    num_classes: ClassVar[int] = 2

    def __init__(
        self,
        attribute: str = "Male",
        folder: str = "celeba",
        test_split: Literal["valid", "test"] = "valid",
        resize: Size = 128,
        crop: Size = 128,
        channels: Annotated[int, Field(ge=1, le=3)] = 3,
        **base: Any,
    ):
        if test_split not in ("valid", "test"):
            raise ValueError(f"CelebA test_split must be 'valid' or 'test', got {test_split!r}")
        self.attribute = attribute
        self.folder = folder
        self.test_split = test_split
        self.class_names = [f"not {attribute}", attribute]
        super().__init__(resize=resize, crop=crop, channels=channels, **base)
        self._frames: tuple[pd.DataFrame, pd.Series] | None = None

    @property
    def root(self) -> Path:
        return self.data_dir / self.folder

    def check_files(self) -> None:
        wanted = [self.root / IMAGES, self.root / ATTRIBUTES, self.root / PARTITION]
        missing = [p for p in wanted if not p.exists()]
        if missing:
            raise DatasetNotFoundError(
                self.name, self.data_dir, looked_for=missing,
                layout=[f"{self.folder}/{IMAGES}/000001.jpg ...", f"{self.folder}/{ATTRIBUTES}", f"{self.folder}/{PARTITION}"],
                source="download the 'Align&Cropped Images' (img_align_celeba.zip) and the attribute and "
                "partition lists from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unpack them into "
                "data_dir/celeba",
            )

    def _read(self) -> tuple[pd.DataFrame, pd.Series]:
        if self._frames is None:
            attributes = read_attributes(self.root / ATTRIBUTES)
            if self.attribute not in attributes.columns:
                raise ValueError(
                    f"CelebA has no attribute {self.attribute!r}; valid attributes: {', '.join(attributes.columns)}"
                )
            self._frames = (attributes, read_partition(self.root / PARTITION))
        return self._frames

    def split_records(self, train: bool) -> tuple[FileRecords, Tensor]:
        attributes, partition = self._read()
        wanted = PARTITIONS["train" if train else self.test_split]
        names = sorted(partition.index[partition == wanted])
        missing_attr = [n for n in names if n not in attributes.index]
        if missing_attr:
            raise ValueError(f"{ATTRIBUTES} lacks the images {missing_attr[:5]} listed in {PARTITION}")
        values = attributes.loc[names, self.attribute].to_numpy()
        labels = torch.as_tensor((values == 1).astype("int64"))
        return FileRecords([self.root / IMAGES / n for n in names]), labels
