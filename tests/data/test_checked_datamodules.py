"""A datamodule's arguments are checked against its signature before anything is read, and its
checkpoint still records every argument, its subclass's own included.

Why both: the check runs in ``__new__`` (``robustlens.utils.parameters.CheckedInNew``) because
Lightning's ``save_hyperparameters`` reads the chain of ``__init__`` frames; a check wrapped around
each ``__init__`` refused the same values but made a CIFAR-10-C checkpoint forget its corruption.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlens.data.cifar10c import CIFAR10CDataModule
from robustlens.data.imagefolder import ImageFolderDataModule
from robustlens.utils.parameters import ParameterError


def test_the_hyperparameters_keep_the_subclass_arguments_and_the_base_ones(tmp_path: Path) -> None:
    module = CIFAR10CDataModule(corruption="fog", severity=3, data_dir=str(tmp_path), batch_size=7)
    assert module.hparams["corruption"] == "fog" and module.hparams["severity"] == 3
    assert module.hparams["batch_size"] == 7 and module.hparams["data_dir"] == str(tmp_path)


def test_a_bad_argument_is_refused_before_the_data_is_looked_for(tmp_path: Path) -> None:
    # the folder does not exist: a check after the class-folder scan would say "not found" instead
    with pytest.raises(ParameterError, match=r"ImageFolderDataModule: batch_size = 0: Input should be greater than 0"):
        ImageFolderDataModule(data_dir=str(tmp_path / "missing"), batch_size=0)
    with pytest.raises(ParameterError, match=r"severity = 6: Input should be less than or equal to 5"):
        CIFAR10CDataModule(severity=6)


def test_an_unknown_argument_keeps_pythons_own_message() -> None:
    with pytest.raises(TypeError, match="bach_size"):
        CIFAR10CDataModule(bach_size=3)
