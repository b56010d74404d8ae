"""Every conf/data file instantiates (with ``data_dir`` overridden, as ``paths`` is the lead's)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.data import ImageDataModule

CONF = Path(__file__).resolve().parents[2] / "conf" / "data"


@pytest.mark.parametrize("name", ["digits", "mnist", "fashion_mnist", "cifar10"])
def test_data_config_instantiates(name, tmp_path):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert OmegaConf.to_container(cfg)["data_dir"] == "${paths.data_dir}"  # the lead's paths group
    cfg.data_dir = str(tmp_path)
    dm = instantiate(cfg)
    assert isinstance(dm, ImageDataModule)
    assert dm.data_dir == tmp_path and dm.num_workers == 0


def test_config_datamodule_loads_shared_mnist(shared_data):
    cfg = OmegaConf.load(CONF / "mnist.yaml")
    cfg.data_dir = str(shared_data)
    cfg.test_subset = 600
    dm = instantiate(cfg)
    dm.setup("test")
    assert len(dm.test_dataloader().dataset) == 600
