"""Compose the real configs in-process, as a task would see them (tests only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf, open_dict

from robustlens.config.locate import config_dir
from robustlens.config.resolvers import register_resolvers

REPO_ROOT = Path(__file__).resolve().parents[1]


def compose_config(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The composed job config with ``paths.output_dir`` = ``output_dir`` and HydraConfig set."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = str(output_dir)
        cfg.hydra.job.num = 0
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir)
        del cfg["hydra"]
    return cfg


def in_data_context(option: DictConfig, num_classes: int = 10) -> DictConfig:
    """A config group option (e.g. a metric or probe file) inside a root that has the ``data``
    node a composed config would have, so ``${data.num_classes}`` resolves."""
    root = OmegaConf.create({"data": {"num_classes": num_classes}, "option": option})
    return root.option


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    """Run ``python -m robustlens <args>`` and return the CompletedProcess (text output)."""
    full_env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "PYTHONWARNINGS": "ignore"}
    full_env["PYTHONPATH"] = str(REPO_ROOT / "src") + os.pathsep + full_env.get("PYTHONPATH", "")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "robustlens", *args], cwd=cwd, env=full_env, capture_output=True, text=True,
        timeout=timeout,
    )
