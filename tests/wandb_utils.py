"""An offline W&B run for callback tests: what the callback logged is read back from its files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_module


def offline_wandb_media(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log: Callable[[Any], None]) -> Path:
    """Call ``log(logger)`` with an offline ``WandbLogger`` under ``tmp_path``; return the run's
    ``files/media`` folder (wandb writes tables and images there; scalars only in the binary record)."""
    wandb = require_module("wandb")
    from lightning.pytorch.loggers import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="robustlens-test")
    try:
        log(logger)
        run_dir = Path(logger.experiment.dir).parent
    finally:
        wandb.finish()
    return run_dir / "files" / "media"
