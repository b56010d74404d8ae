"""Every conf/generator/*.yaml instantiates to a robustlens Generator."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from robustlens.models.generators.base import Generator

CONF = Path(__file__).resolve().parents[2] / "conf" / "generator"


#: sources whose weights are not available offline: each has its own tests on random-weight
#: files in the real format (test_pioneer.py, test_biggan.py, test_custom_sources.py)
EXTERNAL_WEIGHTS = {"pioneer", "biggan_pytorch", "pretrained_biggan", "module", "torchscript"}


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF.glob("*.yaml") if p.stem not in EXTERNAL_WEIGHTS))
def test_generator_config_instantiates(name: str, shared: Path) -> None:
    # the file is a group option: give it the `paths` node the composed config would have
    option = OmegaConf.load(CONF / f"{name}.yaml")
    root = OmegaConf.create({"paths": {"shared_dir": str(shared)}, "data": {"num_classes": 10}, "generator": option})
    generator = hydra.utils.instantiate(root.generator)
    assert isinstance(generator, Generator)
    assert generator.latent_dim > 0 and generator.num_classes == 10


@pytest.mark.parametrize("name", ["pioneer", "biggan_pytorch", "pretrained_biggan"])
def test_external_weights_missing_name_the_file(name: str, tmp_path: Path) -> None:
    option = OmegaConf.load(CONF / f"{name}.yaml")
    root = OmegaConf.create({"paths": {"shared_dir": str(tmp_path)}, "generator": option})
    with pytest.raises(hydra.errors.InstantiationException, match=str(tmp_path)):
        hydra.utils.instantiate(root.generator)
