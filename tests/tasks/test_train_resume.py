"""An interrupted training run resumes from its checkpoint (``ckpt_path``), and a robustlens run's
output carries no Lightning product tips or ``weights_only`` notices."""

from __future__ import annotations

from pathlib import Path

import torch

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli
from tests.tasks.training_log import fits, overrides

FAST = ["+trainer.limit_train_batches=3", "+trainer.limit_val_batches=2", "extras.print_config=false", "seed=3"]


def checkpoint(path: str) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def test_a_run_resumed_from_its_checkpoint_ends_where_an_uninterrupted_run_ends(tmp_path: Path) -> None:
    whole = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=2", *FAST], tmp_path / "whole"))
    first = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=1", *FAST], tmp_path / "first"))
    log = tmp_path / "resumed.jsonl"
    resumed = task_wrapper(train)(compose_config(
        "train", ["trainer.max_epochs=2", f"ckpt_path={first['checkpoints']['last']}", *FAST, *overrides(log)],
        tmp_path / "resumed"
    ))
    a, b = checkpoint(whole["checkpoints"]["last"]), checkpoint(resumed["checkpoints"]["last"])
    assert checkpoint(first["checkpoints"]["last"])["epoch"] == 0
    assert (b["epoch"], b["global_step"]) == (a["epoch"], a["global_step"]) == (1, 6)  # 2 epochs of 3 batches
    for name, value in a["state_dict"].items():  # the second epoch continued the first, as without the stop
        assert torch.allclose(value.float(), b["state_dict"][name].float(), atol=1e-6), name
    # what was resumed: the fit began at epoch 1, step 3, with Adam's state after 3 steps, and trained the
    # second epoch only (a fit from scratch with this seed ends with the same weights: only this tells them apart)
    (fit,) = fits(log)
    assert (fit["epoch"], fit["global_step"], fit["optimizer_steps"]) == (1, 3, [3])
    assert fit["batches"] == [(1, 0), (1, 1), (1, 2)]


def test_a_job_rerun_in_its_own_dir_continues_from_its_last_finished_epoch(tmp_path: Path) -> None:
    """The same job again (a requeue, a rerun after kill -9) resumes from its own checkpoint, no ckpt_path."""
    run = tmp_path / "job"
    first = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=1", *FAST], run))
    (run / "results.json").unlink()  # killed after its first epoch's checkpoint, before its results
    log = tmp_path / "rerun.jsonl"
    again = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=2", *FAST, *overrides(log)], run))
    assert again["resumed_from"] == first["checkpoints"]["last"]
    (fit,) = fits(log)
    assert (fit["epoch"], fit["global_step"], fit["optimizer_steps"]) == (1, 3, [3])
    assert fit["batches"] == [(1, 0), (1, 1), (1, 2)]  # the finished epoch 0 is not trained again


def test_a_robustlens_run_prints_no_lightning_tips_or_weights_only_notices(tmp_path: Path) -> None:
    first = task_wrapper(train)(compose_config("train", ["trainer.max_epochs=1", *FAST], tmp_path / "first"))
    result = run_cli(
        ["train", "trainer.max_epochs=2", f"ckpt_path={first['checkpoints']['last']}", *FAST,
         "extras.ignore_warnings=false", f"hydra.run.dir={tmp_path / 'resumed'}"],
        tmp_path, env={"PYTHONWARNINGS": "default"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Restored all states from the checkpoint" in output  # Lightning's other messages stay
    assert "Tip:" not in output and "litlogger" not in output and "litmodels" not in output
    assert "weights_only" not in output
