"""The base of every robustlens datamodule.

Batches are ``(x, y, index)``: ``x`` float32 images in [0,1] (models own normalisation),
``y`` long labels, ``index`` the sample's position in its split's underlying dataset (the
full train set for train/val, the full test set for test, also when subsets are taken).
The index lets metrics count each sample once under DDP and seeds per-sample randomness.

Subclasses only say how to load a split as tensors (:meth:`ImageDataModule.load_split`);
the base owns splitting, subsets and loaders, so every dataset behaves the same.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, ClassVar

import torch
import torch.distributed as dist
from lightning import LightningDataModule
from pydantic import Field
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from robustlens.data.samplers import UnpaddedDistributedSampler
from robustlens.data.subsets import stratified_first_n, train_val_split
from robustlens.utils.parameters import CheckedInNew

DATA_DIR_ENV = "ROBUSTLENS_DATA_DIR"


class IndexedImageDataset(Dataset):
    """A view ``positions`` of image/label tensors yielding ``(x in [0,1], y, index)``.

    ``images`` is ``[N, C, H, W]``, uint8 (divided by 255 on access: 4× less memory) or
    float already in [0,1]; the train and val views share the same tensors. It may also be
    any object with ``shape``, ``ndim`` and ``__getitem__(position) -> [C, H, W]`` tensor,
    such as :class:`robustlens.data.images.ImageFiles`, which decodes image files on access
    (datasets too large to hold in memory: ImageNet, CelebA, LSUN).
    """

    def __init__(self, images: Tensor, labels: Tensor, positions: Tensor | None = None):
        if images.ndim != 4 or images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"images must be [N, C, H, W] with one label each, got {tuple(images.shape)} "
                f"and {tuple(labels.shape)} labels"
            )
        self.images = images
        self.labels = labels.long()
        self.positions = torch.arange(len(labels)) if positions is None else positions.long()

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        pos = self.positions[i]
        x = self.images[pos]
        x = x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()
        return x, self.labels[pos], pos

    @property
    def targets(self) -> Tensor:
        """Labels of this view, in order."""
        return self.labels[self.positions]


class ImageDataModule(CheckedInNew, LightningDataModule):
    """Common datamodule: deterministic train/val split, stratified subsets, DDP-exact eval loaders.

    Its constructor (and every subclass's) is checked against its signature (:class:`CheckedInNew`):
    the bounds below are written there only, and Python and the config check refuse a value alike.

    Args:
        data_dir: data root; ``None``: ``$ROBUSTLENS_DATA_DIR``, else ``./data``.
        batch_size: training batch size.
        eval_batch_size: val/test batch size (default: ``batch_size``).
        num_workers: DataLoader worker processes.
        val_fraction: share of the training split held out for validation (from ``seed``).
        seed: seed of the train/val split and of the training shuffle.
        train_subset: keep the class-stratified first N training samples (after the split).
        test_subset: keep the class-stratified first N test samples (e.g. Paper A's 600).
        pin_memory: DataLoader ``pin_memory``.
        num_classes: the class count the config declares (``conf/data/<name>.yaml``, which
            metric and classifier configs interpolate as ``${data.num_classes}``); checked
            against the dataset's own, so a config that disagrees with its data fails early.
            ``None``: the dataset's own count.
        class_names: the class names the config declares; ``None``: the dataset's own.
    """

    name: ClassVar[str] = "dataset"
    num_classes: ClassVar[int] = 10
    class_names: ClassVar[list[str]] = []
    input_shape: ClassVar[tuple[int, int, int]] = (1, 28, 28)

    def __init__(
        self,
        data_dir: str | None = None,
        batch_size: Annotated[int, Field(gt=0)] = 128,
        eval_batch_size: Annotated[int, Field(gt=0)] | None = None,
        num_workers: Annotated[int, Field(ge=0)] = 0,
        val_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.0,
        seed: int = 0,
        train_subset: Annotated[int, Field(gt=0)] | None = None,
        test_subset: Annotated[int, Field(gt=0)] | None = None,
        pin_memory: bool = False,
        num_classes: Annotated[int, Field(ge=2)] | None = None,
        class_names: list[str] | None = None,
    ):
        super().__init__()
        # plain data in checkpoints (a config's ListConfig would make them unloadable with weights_only)
        class_names = None if class_names is None else [str(n) for n in class_names]
        self.save_hyperparameters(logger=False)  # checkpoints record which data they saw
        self.data_dir = Path(data_dir if data_dir is not None else os.environ.get(DATA_DIR_ENV, "data"))
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.seed = seed
        self.train_subset = train_subset
        self.test_subset = test_subset
        self.pin_memory = pin_memory
        self._declare_classes(num_classes, class_names)
        self.data_train: IndexedImageDataset | None = None
        self.data_val: IndexedImageDataset | None = None
        self.data_test: IndexedImageDataset | None = None

    def _declare_classes(self, num_classes: int | None, class_names: list[str] | None) -> None:
        """Adopt the config's class count and names after checking them against the dataset's.

        Datasets whose classes depend on their options (CelebA's attribute, LSUN's categories,
        an image folder) set ``num_classes``/``class_names`` before calling the base ``__init__``.
        """
        own = type(self).num_classes if "num_classes" not in vars(self) else self.num_classes
        if num_classes is not None and num_classes != own:
            raise ValueError(
                f"{self.name}: the config declares num_classes={num_classes} but the dataset has {own} "
                f"classes; set `data.num_classes={own}` (or remove the key)"
            )
        if class_names is not None:
            names = [str(n) for n in class_names]
            if len(names) != own:
                raise ValueError(
                    f"{self.name}: the config lists {len(names)} class_names but the dataset has {own} "
                    "classes; give one name per class (or `data.class_names=null` for the dataset's own)"
                )
            self.class_names = names
        self.num_classes = own

    # -- what subclasses provide -------------------------------------------------------------
    def load_split(self, train: bool) -> tuple[Tensor, Tensor]:
        """``(images [N,C,H,W] uint8 or float in [0,1], labels [N])`` of the train or test split."""
        raise NotImplementedError

    def check_files(self) -> None:
        """Raise :class:`~robustlens.data.errors.DatasetNotFoundError` if files are missing."""

    # -- Lightning hooks -----------------------------------------------------------------------
    def prepare_data(self) -> None:
        """Only checks that the files exist: robustlens never downloads."""
        self.check_files()

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and self.data_train is None:
            images, labels = self._checked(*self.load_split(train=True))
            train_pos, val_pos = train_val_split(len(labels), self.val_fraction, self.seed)
            if self.train_subset is not None:
                keep = stratified_first_n(labels[train_pos], self.train_subset, self.num_classes)
                train_pos = train_pos[keep]
            self.data_train = IndexedImageDataset(images, labels, train_pos)
            self.data_val = IndexedImageDataset(images, labels, val_pos)
        if stage in (None, "test", "predict") and self.data_test is None:
            images, labels = self._checked(*self.load_split(train=False))
            positions = None
            if self.test_subset is not None:
                positions = stratified_first_n(labels, self.test_subset, self.num_classes)
            self.data_test = IndexedImageDataset(images, labels, positions)

    def _checked(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if tuple(images.shape[1:]) != tuple(self.input_shape):
            raise ValueError(
                f"{self.name}: images have shape {tuple(images.shape[1:])}, expected {self.input_shape}"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(f"{self.name}: labels outside 0..{self.num_classes - 1}")
        return images, labels.long()

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, dataset: IndexedImageDataset, batch_size: int, train: bool) -> DataLoader:
        distributed = dist.is_available() and dist.is_initialized()
        sampler = None
        generator = None
        if train and distributed:
            sampler = DistributedSampler(dataset, shuffle=True, seed=self.seed)  # padding is harmless here
        elif not train and distributed:
            sampler = UnpaddedDistributedSampler(dataset)
        elif train:
            # one replica of the distributed sampler: the shuffle of epoch e is a function of (seed, e)
            # (Lightning calls set_epoch), so a fit resumed at epoch e sees the order an uninterrupted one does
            sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=True, seed=self.seed)
            generator = torch.Generator().manual_seed(self.seed)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
            drop_last=False,
        )

    def _require(self, dataset: IndexedImageDataset | None, stage: str) -> IndexedImageDataset:
        if dataset is None:
            self.setup(stage)
            dataset = {"fit": self.data_train, "validate": self.data_val, "test": self.data_test}[stage]
        assert dataset is not None
        return dataset

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.data_train, "fit"), self.batch_size, train=True)

    def val_dataloader(self) -> DataLoader | list:
        """Validation loader; an empty list (Lightning: no validation) when ``val_fraction == 0``."""
        data = self._require(self.data_val, "validate")
        return self._loader(data, self.eval_batch_size, train=False) if len(data) else []

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._require(self.data_test, "test"), self.eval_batch_size, train=False)
