"""The shared base of datamodules whose images are files decoded on access.

Subclasses say which records and labels make up a split (:meth:`FileImageDataModule.split_records`);
the base turns them into :class:`~robustlens.data.images.ImageFiles` with the configured
resize/crop, so ImageNet, CelebA, LSUN and any image folder behave like the in-memory datasets
(splits, stratified subsets, DDP loaders) without holding the images in memory.
"""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch import Tensor

from robustlens.data.base import ImageDataModule
from robustlens.data.images import FileRecords, ImageFiles, LMDBRecords, Preprocess

Size = Annotated[int, Field(gt=0)] | list[Annotated[int, Field(gt=0)]] | None


class FileImageDataModule(ImageDataModule):
    """An :class:`ImageDataModule` over image files.

    Args:
        resize: ``Resize`` before cropping: an int sets the shorter side, ``[h, w]`` the exact
            size; ``None`` keeps the files' size.
        crop: ``CenterCrop`` after resizing (int: square); ``None``: no crop.
        channels: 3 (RGB) or 1 (greyscale).
        base: the :class:`ImageDataModule` arguments (data_dir, batch sizes, subsets, ...),
            passed on; subclasses take them as ``**base`` too. Config validation still knows every
            valid key: ``robustlens.utils.signatures`` reads a ``**kwargs`` passed to the parent as
            the parent's named parameters.
    """

    def __init__(self, resize: Size = None, crop: Size = None, channels: int = 3, **base: Any):
        self.preprocess = Preprocess.from_config(resize, crop, channels)
        size = self.preprocess.output_size()
        if size is not None:
            self.input_shape = (channels, *size)
        super().__init__(**base)

    def split_records(self, train: bool) -> tuple[FileRecords | LMDBRecords, Tensor]:
        """The records of the train or test split and their labels (long ``[N]``)."""
        raise NotImplementedError

    def load_split(self, train: bool) -> tuple[Any, Tensor]:
        self.check_files()
        records, labels = self.split_records(train)
        if not len(records):
            raise ValueError(f"{self.name}: the {'train' if train else 'test'} split has no images")
        images = ImageFiles(records, self.preprocess)
        if self.preprocess.output_size() is None:
            self.input_shape = tuple(images.shape[1:])  # type: ignore[assignment]
        return images, torch.as_tensor(labels, dtype=torch.long)
