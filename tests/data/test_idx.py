"""The IDX reader, on files written here in the documented format."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from robustlens.data.idx import IDXFormatError, read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


@pytest.mark.parametrize("compress", [False, True])
def test_reads_plain_and_gzip(tmp_path, compress):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw = _idx_bytes(array)
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, array)


def test_truncated_file_is_refused(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(_idx_bytes(np.zeros((5, 2), dtype=np.uint8))[:-1])
    with pytest.raises(IDXFormatError, match="truncated"):
        read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "t"
    path.write_bytes(b"hello world")
    with pytest.raises(IDXFormatError, match="magic"):
        read_idx(path)


def test_real_mnist_header(shared_data):
    labels = read_idx(shared_data / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10_000,)
    # per-class test counts published with the data (shared/data/README.md)
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
