"""The class count comes from the data config: with a 100-class dataset every metric of the real
evaluation configs counts 100 classes, without editing a metric, probe or model YAML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra.utils import instantiate

from robustlens.metrics.base import ProbeMetric
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from tests.hydra_utils import compose_config

SYNTHETIC_100 = [
    "data._target_=tests.metrics.synthetic_data.Synthetic100DataModule",
    "data.num_classes=100",
    "data.class_names=null",
]


def metric_configs(cfg) -> dict[str, object]:
    """Every metric config of the evaluation: the defaults and each probe's own."""
    found = {f"default/{k}": v for k, v in (cfg.evaluation.get("default_metrics") or {}).items()}
    for probe, probe_cfg in cfg.evaluation.probes.items():
        for name, metric in ((probe_cfg or {}).get("metrics") or {}).items():
            found[f"{probe}/{name}"] = metric
    return {k: v for k, v in found.items() if v is not None}


@pytest.mark.parametrize("evaluation", ["classwise", "conventional", "latent"])
def test_every_metric_of_the_real_configs_gets_the_data_class_count(tmp_path: Path, evaluation: str) -> None:
    cfg = compose_config("evaluate", [*SYNTHETIC_100, f"evaluation={evaluation}"], tmp_path)
    configs = metric_configs(cfg)
    with_classes = {k: c for k, c in configs.items() if "num_classes" in c}
    assert len(with_classes) >= 6, sorted(configs)
    for where, metric_cfg in with_classes.items():
        metric = instantiate(metric_cfg)  # plain instantiate: no class count injected by the task
        assert isinstance(metric, ProbeMetric)
        assert metric.num_classes == 100, where


def test_model_configs_get_the_data_class_count(tmp_path: Path) -> None:
    cfg = compose_config("train", [*SYNTHETIC_100, "classifier=preact_resnet18"], tmp_path)
    assert instantiate(cfg.classifier).linear.out_features == 100
    gen = compose_config("train", [*SYNTHETIC_100, "task=generator", "generator=cvae"], tmp_path / "g")
    assert instantiate(gen.generator).num_classes == 100


def test_a_declared_class_count_that_is_not_the_data_is_refused(tmp_path: Path) -> None:
    cfg = compose_config("evaluate", [*SYNTHETIC_100[:1], "data.num_classes=10"], tmp_path)
    with pytest.raises(Exception, match="Synthetic100: the config declares num_classes=10 but the dataset has 100 classes"):
        instantiate(cfg.data)


def test_a_100_class_evaluation_end_to_end(tmp_path: Path) -> None:
    overrides = [
        *SYNTHETIC_100, "classifier=small_cnn", "classifier.in_channels=3", "classifier.mean=[0.5,0.5,0.5]",
        "classifier.std=[0.25,0.25,0.25]", "classifier.channels=4", "classifier.hidden=16",
        "evaluation.probes.pgd_linf.attack.steps=1", "extras.print_config=false", "callbacks=none",
    ]
    payload = task_wrapper(evaluate)(compose_config("evaluate", overrides, tmp_path))
    metrics = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert payload["status"] == "complete"
    assert {f"clean/classwise_accuracy/{c}" for c in range(100)} <= set(metrics)
    assert "clean/classwise_accuracy/100" not in metrics
    assert len(metrics["clean/confusion"]) == 100
    # 4 test images per class: every class-wise accuracy is a multiple of 1/4, and the overall one of 1/400
    assert all(metrics[f"clean/classwise_accuracy/{c}"] * 4 % 1 == 0 for c in range(100))
    assert metrics["clean/accuracy"] * 400 == round(metrics["clean/accuracy"] * 400)
    assert metrics["clean/worst_class_accuracy"] == min(metrics[f"clean/classwise_accuracy/{c}"] for c in range(100))
