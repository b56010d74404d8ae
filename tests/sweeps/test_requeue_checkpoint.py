"""Which checkpoint a requeued (SLURM pre-emption, timeout) or killed training job continues from:
``resumable_checkpoint`` picks the newest intact one, prefers ``last.ckpt`` on a tie, skips a torn file
with a warning naming it, and passes over the fit's final epoch (its metrics died with the process).

Unit-level and fast on purpose: the SLURM tests exercise the same function through a real requeue, but
only where a localhost cluster runs; these cases name the selection rule itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from robustlens.utils.io import UntrustedFileWarning
from robustlens.utils.training_checkpoints import resumable_checkpoint


def _checkpoint(path: Path, epoch: int, mtime: float) -> Path:
    torch.save({"state_dict": {}, "epoch": epoch, "global_step": 10 * (epoch + 1), "loops": {},
                "optimizer_states": []}, path)
    os.utime(path, (mtime, mtime))
    return path


def test_the_newest_checkpoint_is_resumed_from_and_last_wins_a_tie(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "epoch=0.ckpt", 0, 1_000)
    newest = _checkpoint(tmp_path / "epoch=1.ckpt", 1, 2_000)
    assert resumable_checkpoint(tmp_path, max_epochs=5) == newest
    last = _checkpoint(tmp_path / "last.ckpt", 1, 2_000)
    assert resumable_checkpoint(tmp_path, max_epochs=5) == last


def test_a_torn_checkpoint_is_named_and_the_newest_intact_one_used(tmp_path: Path) -> None:
    intact = _checkpoint(tmp_path / "epoch=1.ckpt", 1, 1_000)
    torn = tmp_path / "last.ckpt"
    torn.write_bytes(b"PK\x03\x04 torn by kill -9")
    os.utime(torn, (2_000, 2_000))
    with pytest.warns(UntrustedFileWarning, match="last.ckpt"):
        assert resumable_checkpoint(tmp_path, max_epochs=5) == intact


def test_the_final_epoch_is_passed_over_but_an_earlier_one_resumed(tmp_path: Path) -> None:
    earlier = _checkpoint(tmp_path / "epoch=0.ckpt", 0, 1_000)
    _checkpoint(tmp_path / "last.ckpt", 1, 2_000)  # epoch 1 of max_epochs=2: the fit had finished
    assert resumable_checkpoint(tmp_path, max_epochs=2) == earlier
    assert resumable_checkpoint(tmp_path, max_epochs=3) == tmp_path / "last.ckpt"
    assert resumable_checkpoint(tmp_path / "absent", max_epochs=3) is None
