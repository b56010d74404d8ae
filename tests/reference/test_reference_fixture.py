"""The reference fixture refuses a missing or incomplete authors' folder with a reason that names it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import adapters, open_or_skip


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


def _incomplete_reference(shared: Path) -> Path:
    """A fake authors' folder with every required file but ``latentspace/gan.py``."""
    root = shared / adapters.REFERENCE_SUBDIR
    for f in adapters.REQUIRED_FILES:
        if f != "latentspace/gan.py":
            (root / f).parent.mkdir(parents=True, exist_ok=True)
            (root / f).write_text("")
    return root


def test_differential_tests_skip_naming_the_path_and_the_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """What the ``reference`` fixture does for an incomplete folder: skip (never pass), with the reason
    (off CI; under CI=true the same reason fails the test)."""
    monkeypatch.delenv("CI", raising=False)
    root = _incomplete_reference(tmp_path / "shared")
    with pytest.raises(pytest.skip.Exception) as skipped:
        open_or_skip(tmp_path / "work", tmp_path / "shared")
    assert str(root) in str(skipped.value) and "missing latentspace/gan.py" in str(skipped.value)
    with pytest.raises(pytest.skip.Exception, match=re.escape(f"not at {tmp_path / 'empty' / adapters.REFERENCE_SUBDIR}")):
        open_or_skip(tmp_path / "work", tmp_path / "empty")  # no reference folder at all


def test_other_reference_users_skip_naming_the_missing_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``tests/reference_code.py`` (the 128-px classifiers, BigGAN, PIONEER tests) skips the same way."""
    monkeypatch.delenv("CI", raising=False)
    from tests import reference_code

    monkeypatch.setenv("ROBUSTLENS_SHARED_DIR", str(tmp_path))
    _incomplete_reference(tmp_path)
    with pytest.raises(pytest.skip.Exception, match=r"biggan not found \(needs the authors' biggan\)"):
        reference_code.import_biggan("utils")
    with pytest.raises(pytest.skip.Exception, match=re.escape(str(tmp_path / adapters.REFERENCE_SUBDIR / "pioneer"))):
        reference_code.import_pioneer_model()
