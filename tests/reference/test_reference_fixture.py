"""The reference fixture refuses a missing or incomplete authors' folder with a reason that names it."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import adapters


def test_missing_folder_names_the_path(tmp_path: Path):
    with pytest.raises(adapters.ReferenceUnavailable, match=str(tmp_path / "reference")):
        adapters.locate_reference(tmp_path)


def test_incomplete_folder_names_the_missing_files(tmp_path: Path):
    root = tmp_path / adapters.REFERENCE_SUBDIR / "latentspace"
    root.mkdir(parents=True)
    (root / "ml_util.py").write_text("")
    with pytest.raises(adapters.ReferenceUnavailable, match=r"incomplete: missing latentspace/cnn.py"):
        adapters.locate_reference(tmp_path)


def test_missing_extra_import_names_the_pip_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / adapters.REFERENCE_SUBDIR
    for f in adapters.REQUIRED_FILES:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("")
    monkeypatch.setitem(adapters.EXTRA_IMPORTS, "no_such_module_for_test", "no-such-package")
    with pytest.raises(adapters.ReferenceUnavailable, match="pip install no-such-package"):
        adapters.locate_reference(tmp_path)


def test_mnist_unpacked_as_their_code_expects(reference):
    raw = reference.workdir / "mnist" / "MNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(adapters.MNIST_FILES)
    assert (raw / "t10k-images-idx3-ubyte").stat().st_size == 16 + 10_000 * 28 * 28


def test_reference_is_imported_from_the_shared_folder(reference):
    assert Path(reference.ref.ml_util.__file__).resolve().is_relative_to(reference.ref.root.resolve())
