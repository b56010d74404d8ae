"""A W&B logger that works without an account: offline unless the user configured W&B."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger


def is_wandb_logger(logger: Any) -> bool:
    """Whether a Lightning logger writes to W&B (callbacks log tables and images only there)."""
    return isinstance(logger, WandbLogger)


def resolve_wandb_mode(mode: str | None) -> str:
    """``mode`` if given; else $WANDB_MODE; else online only when an API key is configured."""
    if mode:
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    netrc = Path.home() / ".netrc"
    has_key = bool(os.environ.get("WANDB_API_KEY")) or (netrc.is_file() and "api.wandb.ai" in netrc.read_text())
    return "online" if has_key else "offline"


def make_wandb_logger(
    save_dir: str,
    project: str = "robustlens",
    entity: str | None = None,
    group: str | None = None,
    name: str | None = None,
    tags: list[str] | None = None,
    sweep_tags: list[str] | None = None,
    mode: str | None = None,
    log_model: bool = False,
    **kwargs: Any,
) -> WandbLogger:
    """Build Lightning's WandbLogger with robustlens' defaults (offline, named, grouped).

    Offline runs are written to ``<save_dir>/wandb/offline-run-*`` and uploaded later
    with ``wandb sync <save_dir>/wandb/offline-run-*``.
    """
    os.makedirs(save_dir, exist_ok=True)
    resolved = resolve_wandb_mode(mode)
    if resolved == "offline":
        # the process-wide W&B setup must know too: with only the run's mode offline, wandb's analytics
        # (opentelemetry proxy) still resolves and contacts its server — a network call on a compute node
        # that has none (found by tests/faults/test_environment.py under strace)
        os.environ.setdefault("WANDB_MODE", "offline")
    return WandbLogger(
        save_dir=save_dir,
        project=project,
        entity=entity,
        group=group,
        name=name,
        tags=[*(tags or []), *(sweep_tags or [])],
        mode=resolved,
        log_model=log_model,
        **kwargs,
    )
