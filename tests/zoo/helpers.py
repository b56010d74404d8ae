"""Shared pieces of the classifier-source tests: a tiny CIFAR-10 on disk and an in-process evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from tests.data.formats import write_cifar10
from tests.hydra_utils import compose_config

#: a clean probe only, few samples: the sources are under test, not the attacks
FAST = ["evaluation=default", "evaluation.probes.pgd_linf=null", "extras.print_config=false", "logger=none",
        "data.eval_batch_size=10"]


def cifar_dir(tmp_path: Path, n_test: int = 20) -> tuple[Path, torch.Tensor]:
    """A data dir with a tiny CIFAR-10 and its test images as [0,1] floats."""
    data = tmp_path / "data"
    images = write_cifar10(data, n_test=n_test)
    return data, torch.from_numpy(images).float() / 255


def evaluate_with(tmp_path: Path, overrides: list[str]) -> dict:
    """Run ``robustlens evaluate`` in-process; the results payload."""
    out = tmp_path / "run"
    cfg = compose_config("evaluate", [*FAST, *overrides], out)
    payload = task_wrapper(evaluate)(cfg)
    assert json.loads((out / "results.json").read_text())["status"] == "complete"
    return payload


def predictions_agree(payload: dict, network: nn.Module, images: torch.Tensor, transform=None) -> None:
    """The evaluated clean accuracy equals the network's own, called directly on the same images."""
    labels = torch.arange(len(images)) % 10
    with torch.no_grad():
        x = images if transform is None else transform(images)
        direct = network.eval()(x).argmax(1)
    expected = (direct == labels).double().mean().item()
    assert abs(payload["metrics"]["clean/accuracy"] - expected) < 1e-6, (payload["metrics"]["clean/accuracy"], expected)
