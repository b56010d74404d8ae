"""Every conf/generator/*.yaml instantiates to a robustlens Generator."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
from omegaconf import OmegaConf

from robustlens.models.generators.base import Generator

CONF = Path(__file__).resolve().parents[2] / "conf" / "generator"


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF.glob("*.yaml")))
def test_generator_config_instantiates(name: str, shared: Path) -> None:
    # the file is a group option: give it the `paths` node the composed config would have
    option = OmegaConf.load(CONF / f"{name}.yaml")
    root = OmegaConf.create({"paths": {"shared_dir": str(shared)}, "generator": option})
    generator = hydra.utils.instantiate(root.generator)
    assert isinstance(generator, Generator)
    assert generator.latent_dim > 0 and generator.num_classes == 10
