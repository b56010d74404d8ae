"""The new datamodules on small files written in each dataset's published format."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.config.resolvers import register_resolvers
from robustlens.data import (
    CelebADataModule,
    CIFAR10CDataModule,
    CIFAR100DataModule,
    DatasetNotFoundError,
    ImageFolderDataModule,
    ImageNetValDataModule,
    LSUNDataModule,
)
from tests.conftest import require_module
from tests.data.formats import random_image, write_celeba, write_cifar100, write_devkit_meta, write_image_folder

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


def _test_batch(dm, batch_size: int | None = None):
    dm.setup("test")
    loader = dm.test_dataloader()
    return loader, next(iter(loader))


def _check_contract(x, y, index, shape, num_classes):
    assert x.dtype == torch.float32 and tuple(x.shape[1:]) == shape
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert y.dtype == torch.long and (y >= 0).all() and (y < num_classes).all()
    assert index.dtype == torch.long and len(index) == len(x)


def _read_only(path: Path) -> None:
    """Make a tree read-only, as a shared data folder is."""
    for dirpath, _, files in os.walk(path):
        for name in files:
            os.chmod(Path(dirpath) / name, stat.S_IRUSR)
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR)


def _config(name: str, data_dir: Path, **overrides):
    register_resolvers()
    cfg = OmegaConf.create({"data": OmegaConf.load(CONF / f"{name}.yaml")})
    cfg.data.data_dir = str(data_dir)
    for key, value in overrides.items():
        OmegaConf.update(cfg, f"data.{key}", value)
    return cfg.data


# -- CIFAR-100 ------------------------------------------------------------------------------------
def test_cifar100_reads_the_published_pickles(tmp_path):
    written = write_cifar100(tmp_path)
    _read_only(tmp_path)
    dm = instantiate(_config("cifar100", tmp_path, eval_batch_size=8, test_subset=20))
    assert dm.num_classes == 100 and dm.class_names[:3] == ["apple", "aquarium_fish", "baby"]
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 32, 32), 100)
    expected = torch.from_numpy(written["test"][index[0].item()].reshape(3, 32, 32)).float() / 255
    assert torch.equal(x[0], expected) and y[0] == index[0] % 100
    coarse = CIFAR100DataModule(data_dir=str(tmp_path), label_type="coarse", eval_batch_size=30)
    _, (_, yc, ic) = _test_batch(coarse)
    assert coarse.num_classes == 20 and torch.equal(yc, (ic % 100) // 5)


def test_cifar100_missing_files_and_disagreeing_config(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar-100-python/meta") as info:
        CIFAR100DataModule(data_dir=str(tmp_path)).prepare_data()
    assert "cifar-100-python.tar.gz" in str(info.value) and str(tmp_path / "cifar-100-python" / "train") in str(info.value)
    with pytest.raises(ValueError, match=r"num_classes=10 but the dataset has 100"):
        CIFAR100DataModule(data_dir=str(tmp_path), num_classes=10)


# -- imagefolder -----------------------------------------------------------------------------------
def test_imagefolder_any_size_resized_and_cropped(tmp_path):
    sizes = [(40, 50), (64, 33), (32, 32)]
    write_image_folder(tmp_path / "pets" / "test", {"dog": sizes, "cat": sizes[:2], "bird": sizes})
    write_image_folder(tmp_path / "pets" / "train", {"dog": sizes, "cat": sizes, "bird": sizes[:1]}, seed=1)
    _read_only(tmp_path)
    cfg = _config("imagefolder", tmp_path, folder="pets", num_classes=3, resize=24, crop=[20, 16], eval_batch_size=16)
    dm = instantiate(cfg)
    assert dm.class_names == ["bird", "cat", "dog"]  # sorted folder names = torchvision ImageFolder indices
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 20, 16), 3)
    assert y.tolist() == [0, 0, 0, 1, 1, 2, 2, 2] and index.tolist() == list(range(8))
    dm.setup("fit")
    assert len(dm.train_dataloader().dataset) == 7


def test_imagefolder_subsets_are_stratified_and_deterministic(tmp_path):
    write_image_folder(tmp_path / "test", {c: [(8, 8)] * 5 for c in ("a", "b", "c")})
    picks = []
    for _ in range(2):
        dm = ImageFolderDataModule(data_dir=str(tmp_path), test_subset=6, eval_batch_size=6)
        _, (_, y, index) = _test_batch(dm)
        picks.append(index.tolist())
        assert sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]
    assert picks[0] == picks[1] == [0, 1, 5, 6, 10, 11]


def test_imagefolder_mixed_sizes_without_resize_name_the_fix(tmp_path):
    write_image_folder(tmp_path / "test", {"a": [(8, 8)], "b": [(9, 8)]})
    dm = ImageFolderDataModule(data_dir=str(tmp_path), eval_batch_size=2)
    with pytest.raises(ValueError, match=r"data.resize.*data.crop"):
        _test_batch(dm)


def test_imagefolder_missing_and_wrong_class_count(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"<class name>/<image>") as info:
        ImageFolderDataModule(data_dir=str(tmp_path), folder="nothing")
    assert str(tmp_path / "nothing" / "test") in str(info.value)
    write_image_folder(tmp_path / "test", {"a": [(8, 8)], "b": [(8, 8)]})
    with pytest.raises(ValueError, match=r"num_classes=3 but the dataset has 2 classes; set `data.num_classes=2`"):
        ImageFolderDataModule(data_dir=str(tmp_path), num_classes=3)


# -- ImageNet validation ---------------------------------------------------------------------------
WNIDS = [f"n{10000000 + 7 * i:08d}" for i in range(1000)]


def test_imagenet_class_folders(tmp_path):
    val = tmp_path / "ImageNet" / "val"
    for w in WNIDS:
        (val / w).mkdir(parents=True)
    rng = np.random.default_rng(0)
    for w, n in ((WNIDS[0], 2), (WNIDS[3], 1), (WNIDS[999], 2)):
        for i in range(n):
            (val / w / f"ILSVRC2012_val_{i:08d}.JPEG").write_bytes(random_image(rng, 300, 400, "JPEG"))
    _read_only(tmp_path)
    dm = instantiate(_config("imagenet", tmp_path, resize=36, crop=32, eval_batch_size=8))
    assert dm.num_classes == 1000 and dm.class_names[0] == "tench" and len(dm.class_names) == 1000
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 32, 32), 1000)
    assert y.tolist() == [0, 0, 3, 999, 999]


def test_imagenet_flat_layout_with_the_devkit_ground_truth(tmp_path):
    root = tmp_path / "ImageNet"
    (root / "ILSVRC2012_img_val").mkdir(parents=True)
    # devkit IDs are not in sorted-WNID order: ID k names WNIDS[(k * 7) % 1000] (a permutation)
    by_id = {k: WNIDS[(k * 7) % 1000] for k in range(1, 1001)}
    write_devkit_meta(root / "ILSVRC2012_devkit_t12" / "data" / "meta.mat", by_id)
    rng = np.random.default_rng(0)
    ids = [5, 1000, 5, 123]
    for i in range(len(ids)):
        (root / "ILSVRC2012_img_val" / f"ILSVRC2012_val_{i + 1:08d}.JPEG").write_bytes(random_image(rng, 20, 30, "JPEG"))
    (root / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "\n".join(map(str, ids)) + "\n"
    )
    dm = ImageNetValDataModule(data_dir=str(tmp_path), resize=16, crop=16, eval_batch_size=4)
    _, (x, y, _) = _test_batch(dm)
    assert x.shape == (4, 3, 16, 16)
    assert y.tolist() == [WNIDS.index(by_id[k]) for k in ids] == [35, 0, 35, 861]


def test_imagenet_flat_layout_with_an_index_file_and_missing_data(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"ILSVRC2012_img_val") as info:
        ImageNetValDataModule(data_dir=str(tmp_path)).prepare_data()
    assert "image-net.org" in str(info.value) and str(tmp_path / "ImageNet" / "val") in str(info.value)
    root = tmp_path / "ImageNet"
    (root / "ILSVRC2012_img_val").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("b.JPEG", "a.JPEG"):
        (root / "ILSVRC2012_img_val" / name).write_bytes(random_image(rng, 20, 20, "JPEG"))
    (root / "val.txt").write_text("b.JPEG 7\na.JPEG 999\n")
    dm = ImageNetValDataModule(data_dir=str(tmp_path), ground_truth="val.txt", resize=8, crop=8, eval_batch_size=2)
    _, (_, y, _) = _test_batch(dm)
    assert y.tolist() == [999, 7]  # sorted by file name
    with pytest.raises(ValueError, match=r"validation set only"):
        dm.setup("fit")


# -- CelebA ----------------------------------------------------------------------------------------
def test_celeba_attribute_labels_partitions_and_paper_a_preprocessing(tmp_path):
    male = [1, -1, -1, 1, 1, -1, 1, -1]
    partition = [0, 0, 1, 1, 1, 2, 0, 1]
    write_celeba(tmp_path, male, partition)
    _read_only(tmp_path)
    dm = instantiate(_config("celeba", tmp_path, eval_batch_size=8))
    assert dm.class_names == ["not Male", "Male"] and dm.num_classes == 2
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 128, 128), 2)
    assert y.tolist() == [0, 1, 1, 0]  # valid partition: images 3, 4, 5, 8
    test = CelebADataModule(data_dir=str(tmp_path), test_split="test", attribute="Male", eval_batch_size=8)
    _, (_, yt, _) = _test_batch(test)
    assert yt.tolist() == [0]
    test.setup("fit")
    assert test.data_train.targets.tolist() == [1, 0, 1]


def test_celeba_unknown_attribute_and_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"list_attr_celeba.txt"):
        CelebADataModule(data_dir=str(tmp_path)).prepare_data()
    write_celeba(tmp_path, [1, -1], [1, 1])
    dm = CelebADataModule(data_dir=str(tmp_path), attribute="Mal")
    with pytest.raises(ValueError, match=r"no attribute 'Mal'; valid attributes: 5_o_Clock_Shadow"):
        dm.setup("test")


# -- LSUN ------------------------------------------------------------------------------------------
def test_lsun_reads_the_published_lmdb_folders(tmp_path):
    require_module("lmdb")
    from tests.data.formats import write_lsun_lmdb

    write_lsun_lmdb(tmp_path / "lsun" / "bedroom_val_lmdb", 3)
    write_lsun_lmdb(tmp_path / "lsun" / "church_outdoor_val_lmdb", 2, seed=1)
    write_lsun_lmdb(tmp_path / "lsun" / "bedroom_train_lmdb", 5, seed=2)
    write_lsun_lmdb(tmp_path / "lsun" / "church_outdoor_train_lmdb", 5, seed=3)
    _read_only(tmp_path)
    # the cap (2) is below the val split's 3 bedrooms: it must limit the training split only
    cfg = _config("lsun", tmp_path, resize=40, crop=32, eval_batch_size=8, train_per_category=2)
    assert cfg.num_classes == 2 and list(cfg.class_names) == ["bedroom", "church_outdoor"]
    dm = instantiate(cfg)
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 32, 32), 2)
    assert y.tolist() == [0, 0, 0, 1, 1]
    dm.setup("fit")
    assert dm.data_train.targets.tolist() == [0] * 2 + [1] * 2
    workers = LSUNDataModule(data_dir=str(tmp_path), resize=40, crop=32, eval_batch_size=8, num_workers=1)
    _, (xw, _, _) = _test_batch(workers)  # the lmdb environment is reopened in the worker
    assert torch.equal(xw, x)


def test_lsun_missing_category_names_the_command(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"download.py") as info:
        LSUNDataModule(data_dir=str(tmp_path), categories=["bedroom", "tower"]).prepare_data()
    assert str(tmp_path / "lsun" / "tower_val_lmdb" / "data.mdb") in str(info.value)
    with pytest.raises(ValueError, match=r"at least 2 distinct names"):
        LSUNDataModule(data_dir=str(tmp_path), categories=["bedroom", "bedrooms"])


# -- CIFAR-10-C ------------------------------------------------------------------------------------
def test_cifar10c_datamodule_one_corruption_one_severity(tmp_path):
    n = 6
    folder = tmp_path / "CIFAR-10-C"
    folder.mkdir()
    images = np.zeros((5 * n, 32, 32, 3), dtype=np.uint8)
    for s in range(5):
        images[s * n : (s + 1) * n] = 40 * s + np.arange(n)[:, None, None, None]
    np.save(folder / "snow.npy", images)
    np.save(folder / "labels.npy", np.tile(np.arange(n, dtype=np.uint8) % 3, 5))
    _read_only(tmp_path)
    dm = instantiate(_config("cifar10c", tmp_path, corruption="snow", severity=3, per_severity=n, eval_batch_size=n))
    _, (x, y, index) = _test_batch(dm)
    _check_contract(x, y, index, (3, 32, 32), 10)
    assert torch.allclose(x[:, 0, 0, 0], (80 + torch.arange(n)).float() / 255)
    assert y.tolist() == [0, 1, 2, 0, 1, 2] and index.tolist() == list(range(n))
    with pytest.raises(DatasetNotFoundError, match=r"zenodo"):
        CIFAR10CDataModule(data_dir=str(tmp_path), corruption="fog").prepare_data()
    with pytest.raises(ValueError, match=r"test set"):
        dm.setup("fit")
