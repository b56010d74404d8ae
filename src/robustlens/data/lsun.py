"""LSUN scene categories from the published lmdb folders (Yu et al. 2015).

Layout, as ``download.py`` of the LSUN repository unpacks it::

    <data_dir>/<folder>/<category>_train_lmdb/{data.mdb,lock.mdb}
    <data_dir>/<folder>/<category>_val_lmdb/{data.mdb,lock.mdb}

Each database maps an image key to the encoded image (webp in the published files; JPEG and
PNG are read as well). The class of an image is its category's position in ``categories``
(default Paper A's ``[bedroom, church_outdoor]``). The ``val`` databases (300 images per
category) are the test split. Training databases are large (bedroom: 3,033,042 images), so
``train_per_category`` reads only the first N keys of each. Reading needs the ``lmdb``
package (``pip install 'robustlens[lsun]'``); the databases are opened read-only without a
lock file, so a read-only copy works.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar

import torch
from pydantic import Field
from torch import Tensor

from robustlens.data.errors import DatasetNotFoundError
from robustlens.data.files_base import FileImageDataModule, Size
from robustlens.data.images import LMDBRecords, lmdb_keys

#: the ten scene categories of the LSUN classification challenge
CATEGORIES = (
    "bedroom", "bridge", "church_outdoor", "classroom", "conference_room",
    "dining_room", "kitchen", "living_room", "restaurant", "tower",
)


def lmdb_folder(root: Path, category: str, split: str) -> Path:
    return root / f"{category}_{split}_lmdb"


class LSUNDataModule(FileImageDataModule):
    """LSUN scene categories; class ``i`` is ``categories[i]``.

    Args:
        categories: the categories to tell apart (at least 2), e.g. ``[bedroom, church_outdoor]``.
        folder: the LSUN folder under ``data_dir``.
        train_per_category: read only the first N images of each training database.
        resize, crop: default Paper A's ``Resize(128)``, ``CenterCrop(128)``.
        The other arguments are :class:`~robustlens.data.base.ImageDataModule`'s.
    """

    name: ClassVar[str] = "LSUN"

    def __init__(
        self,
        categories: list[str] | None = None,
        folder: str = "lsun",
        train_per_category: Annotated[int, Field(gt=0)] | None = None,
        resize: Size = 128,
        crop: Size = 128,
        channels: Annotated[int, Field(ge=1, le=3)] = 3,
        **base: Any,
    ):
        categories = [str(c) for c in (categories if categories is not None else ["bedroom", "church_outdoor"])]
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown or len(categories) < 2 or len(set(categories)) != len(categories):
            raise ValueError(
                f"LSUN categories must be at least 2 distinct names of {', '.join(CATEGORIES)}; got {categories}"
            )
        self.categories = categories
        self.folder = folder
        self.train_per_category = train_per_category
        self.num_classes = len(categories)
        self.class_names = list(categories)
        super().__init__(resize=resize, crop=crop, channels=channels, **base)

    @property
    def root(self) -> Path:
        return self.data_dir / self.folder

    def _missing(self, split: str) -> list[Path]:
        return [p for c in self.categories if not ((p := lmdb_folder(self.root, c, split)) / "data.mdb").is_file()]

    def _not_found(self, missing: list[Path]) -> DatasetNotFoundError:
        return DatasetNotFoundError(
            self.name, self.data_dir, looked_for=[p / "data.mdb" for p in missing],
            layout=[f"{self.folder}/<category>_{{train,val}}_lmdb/data.mdb  for <category> in {self.categories}"],
            source="download them with the LSUN repository's download.py (`python download.py -c bedroom`, "
            "https://github.com/fyu/lsun) and unzip them into data_dir/lsun",
        )

    def check_files(self) -> None:
        missing = self._missing("val")
        if missing:
            raise self._not_found(missing)

    def split_records(self, train: bool) -> tuple[LMDBRecords, Tensor]:
        split = "train" if train else "val"
        missing = self._missing(split)
        if missing:
            raise self._not_found(missing)
        paths = [lmdb_folder(self.root, c, split) for c in self.categories]
        limit = self.train_per_category if train else None
        entries: list[tuple[int, bytes]] = []
        labels: list[int] = []
        for index, path in enumerate(paths):
            keys = lmdb_keys(path, limit)
            entries += [(index, key) for key in keys]
            labels += [index] * len(keys)
        return LMDBRecords(paths, entries), torch.tensor(labels, dtype=torch.long)
