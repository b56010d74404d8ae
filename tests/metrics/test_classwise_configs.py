"""Each conf/metric file instantiates to its ProbeMetric, with the class count of the data config."""

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
    "fairness": "ClasswiseFairness",
    "fairness_dispersion": "ClasswiseDispersion",
    "boundary_error": "BoundaryError",
    "adversarial_flow": "AdversarialFlow",
}


def metric_config(name: str, num_classes: int = 10):
    """The metric file inside a config that has a data group (as composed by a task)."""
    root = OmegaConf.create({"data": {"num_classes": num_classes}, "metric": OmegaConf.load(CONF / f"{name}.yaml")})
    return root.metric


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_metric_config_instantiates(name: str):
    metric = hydra.utils.instantiate(metric_config(name, num_classes=7))
    assert isinstance(metric, ProbeMetric)
    assert type(metric).__name__ == EXPECTED[name]
    assert metric.num_classes == 7  # from ${data.num_classes}, not a literal in the file


def test_every_metric_file_is_covered():
    assert {p.stem for p in CONF.glob("*.yaml")} == set(EXPECTED)


def test_bad_config_value_names_the_fix():
    cfg = metric_config("cfps", num_classes=1)
    with pytest.raises(Exception, match="num_classes = 1: Input should be greater than or equal to 2"):
        hydra.utils.instantiate(cfg)
