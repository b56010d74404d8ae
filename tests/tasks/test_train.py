"""Training: every mode runs, checkpoints rebuild the model alone, W&B offline logs the metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlens.models.classifier_module import load_classifier_checkpoint
from robustlens.tasks.common import task_wrapper
from robustlens.tasks.train import train
from robustlens.utils.wandb_records import find_run_files, logged_history, wait_for_finished_run
from tests.hydra_utils import compose_config

FAST = ["trainer.max_epochs=1", "+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2", "extras.print_config=false"]


@pytest.mark.parametrize(
    "mode_overrides",
    [
        ["training=standard"],
        ["training=noise"],
        ["training=pgd_at", "training.steps=2"],
        ["training=trades", "training.steps=2"],
    ],
    ids=["standard", "noise", "pgd_at", "trades"],
)
def test_each_training_mode_trains(tmp_path: Path, mode_overrides: list[str]) -> None:
    cfg = compose_config("train", [*FAST, *mode_overrides], tmp_path)
    payload = task_wrapper(train)(cfg)
    assert payload["status"] == "complete"
    ckpt = torch.load(payload["checkpoints"]["last"], weights_only=False)
    assert ckpt["robustlens"]["training"]["mode"] == mode_overrides[0].split("=")[1]
    assert torch.isfinite(torch.tensor(payload["metrics"]["train/loss"]))
    # the logged validation numbers are those of the saved model on the 2 validation batches it saw
    correct, count = validation_counts(cfg, load_classifier_checkpoint(payload["checkpoints"]["last"]), batches=2)
    assert payload["metrics"]["val/accuracy"] == pytest.approx(correct.sum().item() / count.sum().item(), abs=1e-7)
    for c in range(10):
        logged = payload["metrics"][f"val/classwise_accuracy/{c}"]
        if count[c]:
            assert logged == pytest.approx(correct[c].item() / count[c].item(), abs=1e-7), c


def validation_counts(cfg, net: torch.nn.Module, batches: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per class: correct predictions and samples over the first ``batches`` validation batches."""
    from hydra.utils import instantiate

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    correct, count = torch.zeros(10, dtype=torch.long), torch.zeros(10, dtype=torch.long)
    with torch.no_grad():
        for i, (x, y, _) in enumerate(datamodule.val_dataloader()):
            if i == batches:
                break
            hit = net(x).argmax(dim=1).eq(y)
            count += torch.bincount(y, minlength=10)
            correct += torch.bincount(y[hit], minlength=10)
    assert count.sum() > 0
    return correct, count


def test_training_with_probes_evaluates_the_trained_model(tmp_path: Path) -> None:
    cfg = compose_config(
        "train",
        [*FAST, "evaluation=default", "data.test_subset=40", "evaluation.probes.pgd_linf.attack.steps=3"],
        tmp_path,
    )
    payload = task_wrapper(train)(cfg)
    assert {"val/accuracy", "clean/accuracy", "pgd_linf/accuracy", "worst_case/accuracy"} <= set(payload["metrics"])
    assert (tmp_path / "per_sample.csv").is_file()
    assert (tmp_path / "classwise" / "per_class.csv").is_file()  # class-wise files also after training


def test_checkpoint_rebuilds_identical_predictions(tmp_path: Path) -> None:
    cfg = compose_config("train", FAST, tmp_path)
    payload = task_wrapper(train)(cfg)
    ckpt = torch.load(payload["checkpoints"]["last"], weights_only=False)
    assert ckpt["robustlens"]["config"]["classifier"]["_target_"]  # the checkpoint carries its config
    net = load_classifier_checkpoint(payload["checkpoints"]["last"])
    from hydra.utils import instantiate

    reference = instantiate(cfg.classifier)
    reference.load_state_dict({k.removeprefix("net."): v for k, v in ckpt["state_dict"].items()})
    reference.eval()
    x = torch.rand(16, 1, 28, 28)
    assert torch.equal(net(x), reference(x))


def test_training_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    first = task_wrapper(train)(compose_config("train", [*FAST, "seed=7"], tmp_path / "a"))
    second = task_wrapper(train)(compose_config("train", [*FAST, "seed=7"], tmp_path / "b"))
    a = torch.load(first["checkpoints"]["last"], weights_only=False)["state_dict"]
    b = torch.load(second["checkpoints"]["last"], weights_only=False)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_wandb_offline_run_contains_the_logged_metric_keys(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_API_KEY", "")
    cfg = compose_config("train", [*FAST, "logger=wandb"], tmp_path)
    task_wrapper(train)(cfg)
    runs = find_run_files(tmp_path / "wandb")
    assert len(runs) == 1, "exactly one offline run, finished"
    assert "offline-run" in str(runs[0])
    keys = set().union(*(row.keys() for row in logged_history(wait_for_finished_run(runs[0]))))
    assert {"train/loss", "train/accuracy", "val/accuracy", "val/classwise_accuracy/0"} <= keys
    import wandb

    assert wandb.run is None  # the task wrapper finished the run


def test_complete_training_job_is_skipped_when_the_sweep_reruns(tmp_path: Path) -> None:
    cfg = compose_config("train", FAST, tmp_path)
    first = task_wrapper(train)(cfg)
    stamp = (tmp_path / "results.json").stat().st_mtime_ns
    second = task_wrapper(train)(compose_config("train", FAST, tmp_path))
    assert (tmp_path / "results.json").stat().st_mtime_ns == stamp  # nothing retrained or rewritten
    assert second["metrics"] == first["metrics"]


def test_multirun_jobs_are_grouped_and_tagged_with_their_swept_values(tmp_path: Path) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import open_dict, read_write

    from robustlens.config.resolvers import sweep_group, sweep_tags

    compose_config("train", ["training=noise", "seed=3"], tmp_path)
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.mode = RunMode.MULTIRUN
        hydra_cfg.sweep.dir = str(tmp_path / "2026-01-01_00-00-00")
    assert sweep_tags() == ["training=noise", "seed=3"]
    assert sweep_group() == "train-2026-01-01_00-00-00"
