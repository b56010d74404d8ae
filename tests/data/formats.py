"""Writers of small datasets in their published on-disk formats (tests only)."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
from PIL import Image


def random_image(rng: np.random.Generator, height: int, width: int, fmt: str = "PNG") -> bytes:
    """Encoded bytes of a random RGB image."""
    array = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def write_cifar100(root: Path, n_train: int = 40, n_test: int = 30, seed: int = 0) -> dict[str, np.ndarray]:
    """``cifar-100-python/{train,test,meta}`` as the published pickles (bytes keys, latin1 strings)."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    out = {}
    for split, n in (("train", n_train), ("test", n_test)):
        fine = np.arange(n) % 100
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        batch = {b"data": data, b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist(),
                 b"filenames": [f"{i}.png".encode() for i in range(n)]}
        (folder / split).write_bytes(pickle.dumps(batch, protocol=2))
        out[split] = data
    meta = {b"fine_label_names": [f"c{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"s{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return out


def write_image_folder(split_dir: Path, classes: dict[str, list[tuple[int, int]]], seed: int = 0) -> None:
    """``split_dir/<class>/<i>.png`` images of the given (height, width) sizes."""
    rng = np.random.default_rng(seed)
    for name, sizes in classes.items():
        folder = split_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, (h, w) in enumerate(sizes):
            (folder / f"img{i:03d}.png").write_bytes(random_image(rng, h, w))


def write_devkit_meta(path: Path, wnids_by_id: dict[int, str]) -> None:
    """The devkit's ``meta.mat``: a struct array ``synsets`` (1000 leaves and one inner node)."""
    from scipy.io import savemat

    dtype = [("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("num_children", "O")]
    rows = [(np.array([[i]], dtype=np.uint16), np.array([w]), np.array([w]), np.array([[0]], dtype=np.uint8))
            for i, w in sorted(wnids_by_id.items())]
    rows.append((np.array([[1001]], dtype=np.uint16), np.array(["n00000001"]), np.array(["entity"]),
                 np.array([[5]], dtype=np.uint8)))
    synsets = np.array(rows, dtype=dtype).reshape(-1, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(str(path), {"synsets": synsets})


CELEBA_ATTRIBUTES = ["5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips", "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby", "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male", "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose", "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair", "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young"]


def write_celeba(root: Path, male: list[int], partition: list[int], seed: int = 0) -> Path:
    """``celeba/`` with 178×218 JPEGs, the attribute list (``Male`` as given) and the partition list."""
    rng = np.random.default_rng(seed)
    folder = root / "celeba"
    (folder / "img_align_celeba").mkdir(parents=True)
    attr_lines = [str(len(male)), " ".join(CELEBA_ATTRIBUTES)]
    part_lines = []
    for i, (m, p) in enumerate(zip(male, partition, strict=True)):
        name = f"{i + 1:06d}.jpg"
        (folder / "img_align_celeba" / name).write_bytes(random_image(rng, 218, 178, "JPEG"))
        values = rng.choice([-1, 1], size=len(CELEBA_ATTRIBUTES))
        values[CELEBA_ATTRIBUTES.index("Male")] = m
        attr_lines.append(name + " " + " ".join(f"{v:2d}" for v in values))  # the published double spaces
        part_lines.append(f"{name} {p}")
    (folder / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (folder / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")
    return folder


def write_lsun_lmdb(path: Path, n: int, size: tuple[int, int] = (64, 80), seed: int = 0) -> list[bytes]:
    """An LSUN-style database: hex keys → webp bytes (the published encoding)."""
    import hashlib

    import lmdb

    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    env = lmdb.open(str(path), map_size=1 << 26)
    keys = []
    with env.begin(write=True) as txn:
        for i in range(n):
            key = hashlib.sha1(f"{path.name}-{i}".encode()).hexdigest().encode()
            txn.put(key, random_image(rng, *size, fmt="WEBP"))
            keys.append(key)
    env.close()
    return sorted(keys)


def write_cifar10(root: Path, n_test: int = 20, n_train_per_batch: int = 2, seed: int = 0) -> np.ndarray:
    """``cifar-10-batches-py`` as the published pickles (tiny batches); returns the test images."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, n: int) -> np.ndarray:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        batch = {b"data": data, b"labels": (np.arange(n) % 10).tolist(), b"batch_label": name.encode()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        return data

    for i in range(1, 6):
        dump(f"data_batch_{i}", n_train_per_batch)
    test = dump("test_batch", n_test)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}, protocol=2))
    return test.reshape(-1, 3, 32, 32)
