"""Every config file this branch owns instantiates to the right class."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.attacks.base import Attack

CONF = Path(__file__).resolve().parents[2] / "conf" / "attack"
NAMES = ["gaussian_noise", "rotation", "translation", "scaling", "brightness", "contrast", "corruption"]


@pytest.mark.parametrize("name", NAMES)
def test_config_instantiates(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    obj = instantiate(cfg)
    assert isinstance(obj, Attack) and not obj.uses_gradients
    assert type(obj).__name__.lower().replace("gaussiannoise", "gaussian_noise") == name
