"""The job's resolved config on disk: ``<output_dir>/config_resolved.yaml``.

Why a file of its own: the task wrapper writes it at the start of every job, and DDP child
ranks start from it (:mod:`robustlens.tasks.ddp`), so they run exactly the parent's job; both
sides name the file through this module, below the tasks that use it.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from robustlens.utils.io import write_text_atomic

RESOLVED_CONFIG_NAME = "config_resolved.yaml"


def save_resolved_config(cfg: DictConfig, output_dir: str | Path) -> Path:
    """Write ``cfg`` with every interpolation resolved to ``<output_dir>/config_resolved.yaml`` (atomic)."""
    return write_text_atomic(Path(output_dir) / RESOLVED_CONFIG_NAME, OmegaConf.to_yaml(cfg, resolve=True))


def load_resolved_config(path: str | Path) -> DictConfig:
    """Read a config written by :func:`save_resolved_config`."""
    cfg = OmegaConf.load(path)
    if not isinstance(cfg, DictConfig):
        raise ValueError(f"{path} does not hold a job config (a mapping at the top level)")
    return cfg
