"""CIFAR-10-C loader on small arrays written in the published layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustlens.data.cifar10c import CIFAR10C, CIFAR10CNotFoundError

N = 4  # images per severity block (10,000 in the published arrays)


@pytest.fixture()
def root(tmp_path):
    folder = tmp_path / "CIFAR-10-C"
    folder.mkdir()
    images = np.zeros((5 * N, 32, 32, 3), dtype=np.uint8)
    for s in range(5):
        for i in range(N):
            images[s * N + i] = 10 * (s + 1) + i  # value encodes (severity, position)
    images[0, 0, 0] = [0, 128, 255]
    np.save(folder / "fog.npy", images)
    np.save(folder / "labels.npy", np.tile(np.arange(N, dtype=np.uint8) % 10, 5))
    return tmp_path


def test_items_range_and_severity_block(root):
    for severity in (1, 3, 5):
        ds = CIFAR10C(root, "fog", severity, per_severity=N)
        assert len(ds) == N
        x, y, index = ds[2]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert torch.allclose(x[:, 5, 5], torch.full((3,), (10 * severity + 2) / 255))
        assert (y, index) == (2, 2)
    x, _, _ = CIFAR10C(root, "fog", 1, per_severity=N)[0]
    assert torch.allclose(x[:, 0, 0], torch.tensor([0.0, 128 / 255, 1.0]))  # HWC -> CHW, /255
    batch = next(iter(torch.utils.data.DataLoader(CIFAR10C(root, "fog", 2, per_severity=N), batch_size=4)))
    assert batch[0].shape == (4, 3, 32, 32) and batch[2].tolist() == [0, 1, 2, 3]
    assert CIFAR10C.available(root) == ("fog",)


def test_missing_file_names_path_and_source(root):
    with pytest.raises(CIFAR10CNotFoundError, match=r"snow\.npy.*zenodo") as info:
        CIFAR10C(root, "snow", 1, per_severity=N)
    assert isinstance(info.value, FileNotFoundError)


def test_wrong_layout_and_bad_names(root):
    with pytest.raises(ValueError, match="expected 5 severities"):
        CIFAR10C(root, "fog", 1)  # default 10,000 per severity does not match
    with pytest.raises(ValueError, match="valid names"):
        CIFAR10C(root, "fogg", 1, per_severity=N)
    with pytest.raises(ValueError, match=r"severity = 6: Input should be less than or equal to 5"):
        CIFAR10C(root, "fog", 6, per_severity=N)
