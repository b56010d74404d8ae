"""Every conf/classifier file instantiates to a [0,1]-input logits model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from robustlens.models.classifiers import MNISTNet
from tests.hydra_utils import in_data_context

CONF = Path(__file__).resolve().parents[2] / "conf" / "classifier"


@pytest.mark.parametrize(
    ("name", "shape", "overrides"),
    [
        ("small_cnn", (1, 28, 28), {}),
        ("mnistnet", (1, 28, 28), {}),
        ("preact_resnet18", (3, 32, 32), {}),
        ("wide_resnet", (3, 32, 32), {"depth": 10, "widen_factor": 1}),  # WRN-28-10 is slow on CPU
    ],
)
def test_classifier_config_instantiates(name, shape, overrides):
    cfg = in_data_context(OmegaConf.load(CONF / f"{name}.yaml"))
    cfg.merge_with(overrides)
    model = instantiate(cfg).eval()
    assert model(torch.rand(2, *shape)).shape == (2, 10)
    assert model.penultimate_layer in dict(model.named_modules())


def test_default_wide_resnet_is_wrn_28_10():
    cfg = OmegaConf.load(CONF / "wide_resnet.yaml")
    assert (cfg.depth, cfg.widen_factor) == (28, 10)


def test_buzhinsky_config_loads_published_weights(paper_a_models):
    cfg = OmegaConf.load(CONF / "buzhinsky_mnist.yaml")
    assert OmegaConf.to_container(cfg)["weights_dir"] == "${paths.shared_dir}/models/buzhinsky2020-mnist"
    cfg.weights_dir = str(paper_a_models)
    model = instantiate(cfg)
    assert isinstance(model, MNISTNet) and not model.training and model.architecture == 0
    state = torch.load(paper_a_models / "classifiers_architecture0" / "plain_MNIST.bin", map_location="cpu",
                       weights_only=True)
    torch.testing.assert_close(model.state_dict()["model.5.weight"], state["model.5.weight"])
