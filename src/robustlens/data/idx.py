"""Reader for the IDX format of MNIST and Fashion-MNIST, gzip-compressed or not.

Why our own reader instead of ``torchvision.datasets.MNIST``: torchvision only reads the
*uncompressed* files and unpacks the ``.gz`` next to themselves (writing ~55 MB into
``raw/``); on a read-only data folder such as the shared one holding only ``.gz`` files that
fails. The format is a 4-byte magic, big-endian dimension sizes, then raw bytes, so reading
it with numpy (decompressing in memory) needs no cache, never writes, and is as fast.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

#: IDX type codes (3rd magic byte) → numpy big-endian dtypes
_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class IDXFormatError(ValueError):
    """The file is not a valid (complete) IDX file."""


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (``.gz`` detected by its magic bytes, not its name)."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise IDXFormatError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    dtype = np.dtype(_DTYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise IDXFormatError(
            f"{path}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header} bytes; the file is truncated or corrupt, copy it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
