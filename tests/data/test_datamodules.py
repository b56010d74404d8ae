"""Datamodules: batches, ranges, splits, subsets, read-only sources, missing-data errors."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from robustlens.data import (
    CIFAR10DataModule,
    DatasetNotFoundError,
    DigitsDataModule,
    FashionMNISTDataModule,
    ImageDataModule,
    MNISTDataModule,
)


def _check_batch(batch, shape, dataset):
    x, y, index = batch
    assert x.dtype == torch.float32 and x.shape[1:] == shape
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.dtype == torch.long and index.dtype == torch.long
    # index is the position in the split's underlying dataset
    for row in range(3):
        stored = dataset.images[index[row]]
        expected = stored.float() / 255 if stored.dtype == torch.uint8 else stored
        assert torch.equal(x[row], expected) and y[row] == dataset.labels[index[row]]


def _snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime) for p in folder.rglob("*")}


# --- digits (built in) ----------------------------------------------------------------------
def test_digits_shapes_counts_and_stratified_split():
    dm = DigitsDataModule(batch_size=32)
    dm.setup()
    assert (len(dm.data_train), len(dm.data_test)) == (1437, 360)
    assert dm.input_shape == (1, 28, 28) and dm.num_classes == 10 and len(dm.class_names) == 10
    _check_batch(next(iter(dm.test_dataloader())), (1, 28, 28), dm.data_test)
    _check_batch(next(iter(dm.train_dataloader())), (1, 28, 28), dm.data_train)
    full = torch.bincount(torch.cat([dm.data_train.targets, dm.data_test.targets]), minlength=10)
    test = torch.bincount(dm.data_test.targets, minlength=10)
    assert full.sum() == 1797
    assert ((test.float() - 0.2 * full.float()).abs() <= 1).all()  # stratified 80/20


def test_digits_resized_images_match_the_8x8_originals():
    from sklearn.datasets import load_digits
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    from robustlens.data.digits import load_digits_28

    images, labels = load_digits_28()
    bunch = load_digits()
    original = torch.as_tensor(bunch.images, dtype=torch.float32)[:, None] / 16
    assert images.shape == (1797, 1, 28, 28) and torch.equal(labels, torch.as_tensor(bunch.target))
    expected = resize(original, [28, 28], interpolation=InterpolationMode.BILINEAR, antialias=False)
    torch.testing.assert_close(images, expected.clamp(0, 1))


def test_val_split_deterministic_from_seed_and_disjoint():
    def val_positions(seed):
        dm = DigitsDataModule(val_fraction=0.25, seed=seed)
        dm.setup("fit")
        return dm.data_train.positions, dm.data_val.positions

    tr, va = val_positions(0)
    assert len(va) == round(1437 * 0.25) and len(tr) + len(va) == 1437
    assert not set(tr.tolist()) & set(va.tolist())
    assert torch.equal(va, val_positions(0)[1])
    assert not torch.equal(va, val_positions(1)[1])


def test_val_loader_empty_without_val_fraction():
    dm = DigitsDataModule(val_fraction=0.0)
    assert dm.val_dataloader() == []


def test_subsets_are_class_stratified_and_keep_original_indices():
    dm = DigitsDataModule(train_subset=200, test_subset=100, val_fraction=0.1, eval_batch_size=1000)
    dm.setup()
    assert torch.bincount(dm.data_test.targets, minlength=10).tolist() == [10] * 10
    assert torch.bincount(dm.data_train.targets, minlength=10).tolist() == [20] * 10
    assert not set(dm.data_train.positions.tolist()) & set(dm.data_val.positions.tolist())
    x, _, index = next(iter(dm.test_dataloader()))
    assert len(x) == 100 and index.max() > 100  # indices into the full 360-image test split


def test_train_shuffle_is_seeded():
    def first_indices(seed):
        dm = DigitsDataModule(batch_size=16, seed=seed)
        return next(iter(dm.train_dataloader()))[2]

    assert torch.equal(first_indices(3), first_indices(3))
    assert not torch.equal(first_indices(3), first_indices(4))


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"num_workers": -1}, {"val_fraction": 1.0}, {"test_subset": 0}]
)
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        DigitsDataModule(**kwargs)


def test_data_dir_defaults_to_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ROBUSTLENS_DATA_DIR", str(tmp_path))
    assert MNISTDataModule().data_dir == tmp_path


# --- MNIST / Fashion-MNIST from the read-only shared folder ---------------------------------------
@pytest.mark.parametrize(
    ("cls", "test_counts"),
    [
        (MNISTDataModule, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),  # shared/data/README.md
        (FashionMNISTDataModule, [1000] * 10),
    ],
)
def test_idx_datasets_from_read_only_gz_folder(shared_data, cls, test_counts):
    before = _snapshot(shared_data)
    dm = cls(data_dir=str(shared_data), val_fraction=0.1, seed=0, eval_batch_size=256)
    dm.prepare_data()
    dm.setup()
    assert len(dm.data_train) + len(dm.data_val) == 60_000 and len(dm.data_val) == 6000
    assert len(dm.data_test) == 10_000
    assert torch.bincount(dm.data_test.targets, minlength=10).tolist() == test_counts
    _check_batch(next(iter(dm.test_dataloader())), (1, 28, 28), dm.data_test)
    _check_batch(next(iter(dm.val_dataloader())), (1, 28, 28), dm.data_val)
    assert dm.data_test.images.dtype == torch.uint8  # kept compact, scaled on access
    assert _snapshot(shared_data) == before  # nothing written, nothing unpacked


def test_mnist_test_subset_600_is_60_per_digit(shared_data):
    dm = MNISTDataModule(data_dir=str(shared_data), test_subset=600)
    dm.setup("test")
    assert torch.bincount(dm.data_test.targets, minlength=10).tolist() == [60] * 10


def _write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    raw = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw += array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


def test_mnist_uncompressed_files_also_work(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress=False)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress=False)
    dm = MNISTDataModule(data_dir=str(tmp_path), batch_size=8)
    dm.setup()
    x, y, _ = next(iter(dm.test_dataloader()))
    assert x.shape == (8, 1, 28, 28) and y.tolist() == list(range(8))
    assert x.max() <= 1.0 and x.max() > 0.9  # 255 → 1


@pytest.mark.parametrize(
    ("cls", "expected_file"),
    [
        (MNISTDataModule, Path("MNIST/raw/train-images-idx3-ubyte.gz")),
        (FashionMNISTDataModule, Path("FashionMNIST/raw/t10k-labels-idx1-ubyte")),
        (CIFAR10DataModule, Path("cifar-10-batches-py/data_batch_1")),
    ],
)
def test_missing_dataset_error_names_paths_and_fix(tmp_path, cls, expected_file):
    dm = cls(data_dir=str(tmp_path))
    with pytest.raises(DatasetNotFoundError) as err:
        dm.prepare_data()
    assert isinstance(err.value, FileNotFoundError)
    message = str(err.value)
    assert str(tmp_path / expected_file) in message
    assert "data.data_dir=" in message and "ROBUSTLENS_DATA_DIR" in message
    assert "never downloads" in message
    with pytest.raises(DatasetNotFoundError):
        dm.setup("test")
    assert list(tmp_path.iterdir()) == []  # no download attempt, nothing created


# --- CIFAR-10 from tiny files in the real pickle format -----------------------------------------
def _write_cifar(root: Path, per_batch: int = 4, n_test: int = 10, bytes_keys: bool = True) -> np.ndarray:
    """Writes the python-version layout; returns the test images as [N, 3, 32, 32]."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def key(k):
        return k.encode() if bytes_keys else k

    def dump(name, n, offset):
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [(offset + i) % 10 for i in range(n)]
        batch = {key("batch_label"): name, key("labels"): labels, key("data"): data,
                 key("filenames"): [f"img{i}.png" for i in range(n)]}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
        return data

    for i in range(1, 6):
        dump(f"data_batch_{i}", per_batch, i)
    test = dump("test_batch", n_test, 0)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({key("label_names"): ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                          "horse", "ship", "truck"], key("num_vis"): 3072}, f, protocol=2)
    return test.reshape(-1, 3, 32, 32)


@pytest.mark.parametrize("bytes_keys", [True, False])
def test_cifar10_reads_real_format(tmp_path, bytes_keys):
    test_images = _write_cifar(tmp_path, bytes_keys=bytes_keys)
    dm = CIFAR10DataModule(data_dir=str(tmp_path), batch_size=5, test_subset=10)
    dm.setup()
    assert len(dm.data_train) == 20 and len(dm.data_test) == 10
    assert dm.input_shape == (3, 32, 32) and dm.class_names[3] == "cat"
    x, y, index = next(iter(dm.test_dataloader()))
    _check_batch((x, y, index), (3, 32, 32), dm.data_test)
    assert y.tolist() == [0, 1, 2, 3, 4]
    # channel-major rows: value at (c, r, k) is data[c*1024 + r*32 + k]
    flat = test_images.reshape(-1, 3072)
    assert x[2, 1, 5, 7] == pytest.approx(flat[2, 1024 + 5 * 32 + 7] / 255)
    # train batches concatenated in order 1..5
    assert dm.data_train.labels.tolist()[:8] == [1, 2, 3, 4, 2, 3, 4, 5]


def test_cifar10_refuses_pickles_that_run_code(tmp_path):
    _write_cifar(tmp_path)

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
        pickle.dump({"data": Evil(), "labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="may not contain"):
        CIFAR10DataModule(data_dir=str(tmp_path)).setup("test")


def test_base_class_is_abstract_about_loading():
    with pytest.raises(NotImplementedError):
        ImageDataModule().setup("test")
