"""The ImageNet-1k (ILSVRC2012) validation set in either of its two usual layouts.

Layouts, searched in this order under ``<data_dir>/<folder>/``::

    val/<wnid>/<image>.JPEG                            class folders (e.g. after the usual
                                                       valprep.sh): 1000 WNID folders
    ILSVRC2012_img_val/ILSVRC2012_val_00000001.JPEG    the flat archive as published, with
      + a ground-truth file, one of                    its labels in a separate file:
        ILSVRC2012_validation_ground_truth.txt         the devkit's: one ILSVRC2012_ID (1..1000)
          + ILSVRC2012_devkit_t12/data/meta.mat          per line, in file order; meta.mat maps
                                                         IDs to WNIDs
        <file with "<image name> <class index>" lines>  e.g. caffe's val.txt: index in sorted-WNID
                                                         order (``ground_truth: <its name>``)

Class indices follow the sorted-WNID order every PyTorch ImageNet model uses (torchvision,
timm, RobustBench); class names are torchvision's ImageNet-1k category names. The devkit's
ILSVRC2012_IDs are in another order; reading them without meta.mat would give wrong labels,
so that combination is refused. Only the validation set is supported (evaluation); training
asks for a train split, which this datamodule says it does not have.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.files_base import FileImageDataModule, Size
from robustlens.data.imagefolder import class_folders, folder_records
from robustlens.data.images import FileRecords, image_files_under

NUM_CLASSES = 1000
CLASS_FOLDERS = "val"
FLAT_FOLDER = "ILSVRC2012_img_val"
DEVKIT_TRUTH = "ILSVRC2012_validation_ground_truth.txt"
DEVKIT_META = Path("ILSVRC2012_devkit_t12") / "data" / "meta.mat"
_WNID = re.compile(r"^n\d{8}$")


def imagenet_class_names() -> list[str]:
    """torchvision's 1000 ImageNet-1k category names, in sorted-WNID (model output) order."""
    from torchvision.models import ResNet18_Weights

    return list(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def devkit_id_to_index(meta_path: Path) -> dict[int, int]:
    """ILSVRC2012_ID (1..1000) → class index in sorted-WNID order, from the devkit's meta.mat."""
    from scipy.io import loadmat

    synsets = loadmat(str(meta_path), squeeze_me=True)["synsets"]
    leaves = [(int(s["ILSVRC2012_ID"]), str(s["WNID"])) for s in synsets if int(s["num_children"]) == 0]
    if len(leaves) != NUM_CLASSES:
        raise ValueError(f"{meta_path} lists {len(leaves)} leaf synsets; the ILSVRC2012 devkit has {NUM_CLASSES}")
    order = {wnid: i for i, wnid in enumerate(sorted(w for _, w in leaves))}
    return {ilsvrc_id: order[wnid] for ilsvrc_id, wnid in leaves}


class ImageNetValDataModule(FileImageDataModule):
    """ImageNet-1k validation images (50,000), 1000 classes, resized and centre-cropped.

    Args:
        folder: the ImageNet folder under ``data_dir``.
        ground_truth: the labels file of the flat layout, relative to ``folder``; ``None``:
            the devkit's ``ILSVRC2012_validation_ground_truth.txt`` (with ``meta.mat``), looked for
            in ``folder`` and in the devkit's ``data/``.
        resize, crop: the evaluation preprocessing; default ``Resize(256)``, ``CenterCrop(224)``.
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "ImageNet"
    num_classes: ClassVar[int] = NUM_CLASSES
    class_names: ClassVar[list[str]] = []

    def __init__(
        self,
        folder: str = "ImageNet",
        ground_truth: str | None = None,
        resize: Size = 256,
        crop: Size = 224,
        channels: Annotated[int, Field(ge=1, le=3)] = 3,
        **base: Any,
    ):
        self.folder = folder
        self.ground_truth = ground_truth
        self.class_names = imagenet_class_names()
        super().__init__(resize=resize, crop=crop, channels=channels, **base)

    @property
    def root(self) -> Path:
        return self.data_dir / self.folder

    def _truth_candidates(self) -> list[Path]:
        if self.ground_truth is not None:
            return [self.root / self.ground_truth]
        return [self.root / DEVKIT_TRUTH, self.root / DEVKIT_META.parent / DEVKIT_TRUTH]

    def _layout(self) -> str:
        """``"folders"`` or ``"flat"``; raises the not-found error naming both layouts."""
        if (self.root / CLASS_FOLDERS).is_dir():
            return "folders"
        flat = self.root / FLAT_FOLDER
        truth = [p for p in self._truth_candidates() if p.is_file()]
        if flat.is_dir() and truth:
            return "flat"
        looked = [self.root / CLASS_FOLDERS, flat, *self._truth_candidates()]
        raise DatasetNotFoundError(
            self.name, self.data_dir, looked_for=[p for p in looked if not p.exists()],
            layout=[
                f"{self.folder}/{CLASS_FOLDERS}/<wnid>/<image>.JPEG   (class folders), or",
                f"{self.folder}/{FLAT_FOLDER}/ILSVRC2012_val_<n>.JPEG  (flat, as published) with",
                f"{self.folder}/{DEVKIT_TRUTH} and {self.folder}/{DEVKIT_META.as_posix()}  (devkit labels), or",
                f"{self.folder}/<labels file> with '<image name> <class index>' lines (set data.ground_truth)",
            ],
            source="get ILSVRC2012_img_val.tar and ILSVRC2012_devkit_t12.tar.gz from https://image-net.org "
            "(registration needed) and unpack them into data_dir/ImageNet",
        )

    def check_files(self) -> None:
        self._layout()

    def split_records(self, train: bool) -> tuple[FileRecords, Tensor]:
        if train:
            raise ValueError(
                "the ImageNet datamodule reads the validation set only (for evaluation); to train on "
                "ImageNet-like data use `data=imagefolder` with your own train/ and test/ class folders"
            )
        if self._layout() == "folders":
            split_dir = self.root / CLASS_FOLDERS
            wnids = class_folders(split_dir)
            bad = [w for w in wnids if not _WNID.match(w)]
            if len(wnids) != NUM_CLASSES or bad:
                raise ValueError(
                    f"{split_dir} must hold the {NUM_CLASSES} WNID class folders (n01440764, ...); found "
                    f"{len(wnids)}" + (f", of which not WNIDs: {bad[:5]}" if bad else "")
                    + ". For another set of classes use `data=imagefolder`."
                )
            return folder_records(split_dir, wnids)
        return self._flat_records()

    def _flat_records(self) -> tuple[FileRecords, Tensor]:
        images_dir = self.root / FLAT_FOLDER
        truth = next(p for p in self._truth_candidates() if p.is_file())
        lines = [line.split() for line in truth.read_text().splitlines() if line.strip()]
        if lines and all(len(tokens) == 2 for tokens in lines):  # "<name> <index>"
            labels = {name: int(index) for name, index in lines}
            names = sorted(labels)
            out_of_range = [n for n in names if not 0 <= labels[n] < NUM_CLASSES]
            if out_of_range:
                raise ValueError(f"{truth}: class indices must be 0..{NUM_CLASSES - 1}; see {out_of_range[:3]}")
            missing = [n for n in names if not (images_dir / n).is_file()]
            if missing:
                raise DatasetNotFoundError(
                    self.name, self.data_dir, looked_for=[images_dir / n for n in missing[:10]],
                    layout=[f"{self.folder}/{FLAT_FOLDER}/<every image named in {truth.name}>"],
                    source="unpack ILSVRC2012_img_val.tar completely",
                )
            return FileRecords([images_dir / n for n in names]), torch.tensor([labels[n] for n in names])
        if not all(len(tokens) == 1 for tokens in lines):
            raise ValueError(
                f"{truth}: expected one ILSVRC2012_ID per line (the devkit's file) or '<image name> <class index>' lines"
            )
        meta = self.root / DEVKIT_META
        if not meta.is_file():
            raise DatasetNotFoundError(
                self.name, self.data_dir, looked_for=[meta],
                layout=[f"{self.folder}/{DEVKIT_META.as_posix()}  (maps the ground truth's ILSVRC2012_IDs to classes)"],
                source="unpack ILSVRC2012_devkit_t12.tar.gz into data_dir/ImageNet",
            )
        to_index = devkit_id_to_index(meta)
        files = image_files_under(images_dir)
        if len(files) != len(lines):
            raise ValueError(
                f"{images_dir} holds {len(files)} images but {truth.name} has {len(lines)} labels (one per "
                "image, in file-name order); unpack the complete archive"
            )
        return FileRecords(files), torch.tensor([to_index[int(tokens[0])] for tokens in lines])
