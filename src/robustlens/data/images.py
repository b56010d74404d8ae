"""Image files decoded on access: datasets too large to hold in memory as one tensor.

Why not load everything like MNIST/CIFAR: ImageNet's validation set alone is 6.4 GB of
JPEG and 7.5 GB as uint8 tensors at 224×224; CelebA has 202,599 images, LSUN's bedroom
class three million. Datamodules over image files keep only the labels and a list of
records in memory; :class:`ImageFiles` reads, decodes and resizes one image when the loader
asks for it. The base datamodule treats it like an image tensor (it has ``shape``/``ndim`` and
``[position]``), so subsets, splits and DDP loaders work unchanged.

Preprocessing mirrors torchvision's ``Resize`` (bilinear with antialiasing, an int resizes the
shorter side) followed by ``CenterCrop``: the published pipelines of Paper A (``Resize(128)``,
``CenterCrop(128)``) and of ImageNet evaluation (``Resize(256)``, ``CenterCrop(224)``) are one
config line each. Nothing is ever written next to the data (read-only folders are fine).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

#: image file extensions the folder datasets pick up (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")


def _pair(value: int | Sequence[int] | None, name: str) -> tuple[int, int] | int | None:
    if value is None:
        return None
    if isinstance(value, int):
        if value <= 0:
            raise ValueError(f"{name} must be a positive size in pixels, got {value}")
        return value
    pair = tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) <= 0:
        raise ValueError(f"{name} must be one size or [height, width] in pixels, got {list(value)}")
    return pair  # type: ignore[return-value]


@dataclass(frozen=True)
class Preprocess:
    """``Resize(resize)`` then ``CenterCrop(crop)``, then a uint8 ``[C, H, W]`` tensor.

    Args:
        resize: an int resizes the shorter side to it (aspect ratio kept), ``[h, w]`` resizes
            to exactly that; ``None`` keeps the file's size.
        crop: centre crop to ``crop`` (int: square) after resizing; ``None``: no crop.
        channels: 3 (RGB; greyscale files are replicated) or 1 (greyscale).
    """

    resize: int | tuple[int, int] | None = None
    crop: int | tuple[int, int] | None = None
    channels: int = 3

    @classmethod
    def from_config(cls, resize: Any = None, crop: Any = None, channels: int = 3) -> Preprocess:
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        return cls(_pair(resize, "resize"), _pair(crop, "crop"), channels)

    def output_size(self) -> tuple[int, int] | None:
        """``(H, W)`` of every output image, or ``None`` when it depends on the files."""
        if self.crop is not None:
            return (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
        if isinstance(self.resize, tuple):
            return self.resize
        return None

    def __call__(self, image: Image.Image) -> Tensor:
        image = image.convert("RGB" if self.channels == 3 else "L")
        x = TF.pil_to_tensor(image)
        if self.resize is not None:
            size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
            x = TF.resize(x, size, interpolation=TF.InterpolationMode.BILINEAR, antialias=True)
        if self.crop is not None:
            x = TF.center_crop(x, [self.crop] if isinstance(self.crop, int) else list(self.crop))
        return x


class FileRecords:
    """Records that are image files on disk: record ``i`` is the bytes of ``paths[i]``."""

    def __init__(self, paths: Sequence[Path]):
        self.paths = [Path(p) for p in paths]

    def __len__(self) -> int:
        return len(self.paths)

    def describe(self, i: int) -> str:
        return str(self.paths[i])

    def read(self, i: int) -> bytes:
        return self.paths[i].read_bytes()


class LMDBRecords:
    """Records stored as values of LMDB databases (LSUN's published ``*_lmdb`` folders).

    Record ``i`` is the value of key ``entries[i][1]`` in database ``paths[entries[i][0]]``.
    Each environment is opened read-only without a lock file (the folder may be read-only),
    lazily in each process (:func:`open_lmdb`): an open environment cannot cross into DataLoader workers.
    """

    def __init__(self, paths: Sequence[Path], entries: Sequence[tuple[int, bytes]]):
        self.paths = [Path(p) for p in paths]
        self.entries = list(entries)

    def __len__(self) -> int:
        return len(self.entries)

    def describe(self, i: int) -> str:
        db, key = self.entries[i]
        return f"{self.paths[db]} key {key.decode(errors='replace')}"

    def read(self, i: int) -> bytes:
        db, key = self.entries[i]
        with open_lmdb(self.paths[db]).begin(write=False) as txn:
            value = txn.get(key)
        if value is None:
            raise KeyError(f"{self.describe(i)} is missing from the database")
        return bytes(value)


_LMDB_ENVS: dict[tuple[int, str], Any] = {}


def open_lmdb(path: Path) -> Any:
    """The process's read-only LMDB environment of ``path`` (no lock file: the folder may be read-only).

    One environment per path and process: LMDB refuses to open a database twice in one process.
    A DataLoader worker forked from a process that had it open first closes its inherited copy
    (closing in the child unmaps only the child's view), then opens its own.
    """
    import os

    pid = os.getpid()
    for inherited in [k for k in _LMDB_ENVS if k[0] != pid]:
        _LMDB_ENVS.pop(inherited).close()
    cache_key = (pid, str(Path(path).resolve()))
    if cache_key in _LMDB_ENVS:
        return _LMDB_ENVS[cache_key]
    try:
        import lmdb
    except ImportError as exc:  # pragma: no cover - exercised where the extra is missing
        raise ImportError(
            "reading LSUN's lmdb folders needs the `lmdb` package: pip install 'robustlens[lsun]' "
            "(or `pip install lmdb`)"
        ) from exc
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=256)
    _LMDB_ENVS[cache_key] = env
    return env


def lmdb_keys(path: Path, limit: int | None = None) -> list[bytes]:
    """The keys of the database in its (sorted) order; only the first ``limit`` if given."""
    keys: list[bytes] = []
    with open_lmdb(path).begin(write=False) as txn:
        for key in txn.cursor().iternext(keys=True, values=False):
            if limit is not None and len(keys) >= limit:
                break
            keys.append(bytes(key))
    return keys


class ImageFiles:
    """Images decoded on access, shaped like a uint8 ``[N, C, H, W]`` tensor for the datamodule.

    Args:
        records: where item ``i``'s encoded bytes come from (:class:`FileRecords`,
            :class:`LMDBRecords`).
        preprocess: resize/crop/channels.
        size: ``(H, W)`` every image has after ``preprocess``; ``None``: the first image's
            (every other image must then match, else the error says to set resize/crop).
    """

    def __init__(self, records: FileRecords | LMDBRecords, preprocess: Preprocess, size: tuple[int, int] | None = None):
        self.records = records
        self.preprocess = preprocess
        if size is None:
            size = preprocess.output_size()
        if size is None:
            if not len(records):
                raise ValueError("no images to read")
            size = tuple(self[0].shape[1:])  # type: ignore[assignment]
        self.size = size

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.records), self.preprocess.channels, *self.size)  # type: ignore[return-value]

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int | Tensor) -> Tensor:
        i = int(i)
        try:
            image = Image.open(io.BytesIO(self.records.read(i)))
            image.load()
        except Exception as exc:
            raise ValueError(f"cannot decode image {self.records.describe(i)}: {exc}") from exc
        x = self.preprocess(image)
        if hasattr(self, "size") and tuple(x.shape[1:]) != tuple(self.size):
            raise ValueError(
                f"image {self.records.describe(i)} is {tuple(x.shape[1:])} after preprocessing but earlier "
                f"images are {tuple(self.size)}: set `data.resize` and/or `data.crop` (e.g. data.resize=256 "
                "data.crop=224) so that every image has one size"
            )
        return x


def image_files_under(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name (hidden files skipped)."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )
