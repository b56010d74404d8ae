"""Each conf/metric file of the class-wise metrics instantiates to its ProbeMetric."""

from __future__ import annotations

from pathlib import Path

import hydra.utils
import pytest
from omegaconf import OmegaConf

from robustlens.metrics.base import ProbeMetric

CONF = Path(__file__).resolve().parents[2] / "conf" / "metric"
EXPECTED = {
    "accuracy": "Accuracy",
    "classwise_accuracy": "ClasswiseAccuracy",
    "confusion": "ConfusionMatrix",
    "cfps": "ClassFalseScores",
    "flip_rate": "FlipRate",
    "targeted_success": "TargetedSuccessMatrix",
    "error_flow": "ErrorFlow",
    "latent_structure": "LatentStructure",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metric_config_instantiates(name: str):
    metric = hydra.utils.instantiate(OmegaConf.load(CONF / f"{name}.yaml"))
    assert isinstance(metric, ProbeMetric)
    assert type(metric).__name__ == EXPECTED[name]
    assert metric.num_classes == 10


def test_bad_config_value_names_the_fix():
    cfg = OmegaConf.load(CONF / "cfps.yaml")
    cfg.num_classes = 1
    with pytest.raises(Exception, match="num_classes must be an int >= 2"):
        hydra.utils.instantiate(cfg)
