"""What every task shares: validation, seeding, loggers/callbacks, and the task wrapper
that always finishes W&B and records failures without losing finished results."""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from robustlens.config.saved import save_resolved_config
from robustlens.config.top_level import top_level_keys
from robustlens.config.validate import validate_config
from robustlens.utils.console_filters import install_console_filters
from robustlens.utils.results_file import RESULTS_SCHEMA, write_results_atomic
from robustlens.utils.versions import library_versions

if TYPE_CHECKING:
    import lightning as L

log = logging.getLogger("robustlens")

def is_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.initialized() and str(HydraConfig.get().mode) == "RunMode.MULTIRUN"


def job_info(cfg: DictConfig) -> dict[str, Any]:
    """Name, overrides and swept values of the current Hydra job (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    info: dict[str, Any] = {"output_dir": str(cfg.paths.output_dir)}
    if not HydraConfig.initialized():
        return info
    hc = HydraConfig.get()
    overrides = list(hc.overrides.task)
    info.update(
        name=hc.job.name,
        overrides=overrides,
        sweep_params=dict(_split_override(o) for o in overrides if "=" in o and not o.startswith("hydra")),
        job_num=hc.job.get("num"),
    )
    return info


def _split_override(override: str) -> tuple[str, Any]:
    key, _, value = override.lstrip("+~").partition("=")
    try:
        import yaml

        parsed = yaml.safe_load(value)
    except Exception:
        parsed = value
    return key, parsed


def results_payload(
    cfg: DictConfig, *, status: str, metrics: dict[str, Any] | None = None, started: float,
    probes: dict[str, Any] | None = None, error: BaseException | None = None, extra: dict | None = None,
    job: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``results.json`` contract (CONTRIBUTING.md) for the current job."""
    finished = time.time()
    payload = {
        "schema": RESULTS_SCHEMA,
        "status": status,
        "task": str(cfg.task_name),
        "error": None,
        "job": job or job_info(cfg),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "versions": library_versions(),
        "seed": cfg.get("seed"),
        "timing": {
            "started": datetime.fromtimestamp(started, timezone.utc).isoformat(),
            "finished": datetime.fromtimestamp(finished, timezone.utc).isoformat(),
            "seconds": round(finished - started, 3),
        },
        "probes": probes or {},
        "metrics": metrics or {},
    }
    if error is not None:
        payload["error"] = {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": "".join(traceback.format_exception(error)),
        }
    payload.update(extra or {})
    return payload


def finish_wandb(exit_code: int = 0) -> None:
    """Close the W&B run of this process, if any (also after a failure).

    A process that never imported wandb has no run: importing it only to find none would make a
    configuration error wait for wandb."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=exit_code)


def task_wrapper(task: Callable[[DictConfig], dict[str, Any]]) -> Callable[[DictConfig], Any]:
    """Validate, seed, run, and always close W&B; record a failure in ``results.json``.

    In a multirun a failed job is recorded (status ``failed`` with its traceback) and the
    sweep goes on; the sweep summary lists it at the end. A single run re-raises.
    """

    @functools.wraps(task)
    def wrapped(cfg: DictConfig) -> Any:
        started = time.time()
        output_dir = Path(cfg.paths.output_dir if "paths" in cfg else cfg.output_dir)
        records_results = cfg.get("task_name") in ("train", "evaluate") or "paths" in cfg
        install_console_filters()
        try:
            validate_config(cfg, top_level_keys())
            output_dir.mkdir(parents=True, exist_ok=True)
            save_resolved_config(cfg, output_dir)
            if cfg.get("extras", {}).get("ignore_warnings"):
                warnings.filterwarnings("ignore")
            if cfg.get("extras", {}).get("print_config"):
                print_config(cfg)
            if cfg.get("seed") is not None:
                from lightning.fabric.utilities.seed import seed_everything

                seed_everything(int(cfg.seed), workers=True, verbose=False)
            result = task(cfg)
        except BaseException as exc:
            _reset_ddp_environment()
            finish_wandb(exit_code=1)
            if records_results and _is_rank_zero() and not isinstance(exc, KeyboardInterrupt):
                _record_failure(cfg, output_dir, exc, started)
            if is_multirun() and isinstance(exc, Exception):
                log.error("job failed (the sweep goes on): %s: %s", type(exc).__name__, exc)
                return None
            raise
        _reset_ddp_environment()
        finish_wandb(exit_code=0)
        return result

    return wrapped


def _reset_ddp_environment() -> None:
    """Clear the DDP variables a job set (imported here: ``tasks.ddp`` imports Lightning, which a
    configuration error should not wait for)."""
    if "robustlens.tasks.ddp" in sys.modules:  # only a job that built a Trainer can have set them
        sys.modules["robustlens.tasks.ddp"].reset_ddp_environment()


def _record_failure(cfg: DictConfig, output_dir: Path, exc: BaseException, started: float) -> None:
    """Write status 'failed' — unless a complete results file exists (never lose finished work)."""
    results = output_dir / "results.json"
    try:
        import json

        if results.is_file() and json.loads(results.read_text()).get("status") == "complete":
            return
        previous = json.loads(results.read_text()) if results.is_file() else {}
        payload = results_payload(
            cfg, status="failed", metrics=previous.get("metrics"), probes=previous.get("probes"),
            started=started, error=exc,
            extra={"completed_probes": previous.get("completed_probes", [])},
        )
        write_results_atomic(results, payload)
    except Exception:  # recording must never hide the original error
        log.exception("could not record the failure in %s", results)


def _is_rank_zero() -> bool:
    """Whether this process is rank 0: Lightning's answer once it is imported, else the environment
    variables Lightning reads itself (a configuration error must not wait for Lightning's import)."""
    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")
    if rank_zero is not None:
        return getattr(rank_zero.rank_zero_only, "rank", 0) == 0
    # lightning.fabric.utilities.rank_zero._get_rank: the first of these that is set
    rank = next((os.environ[k] for k in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")
                 if k in os.environ), "0")
    return int(rank) == 0


def print_config(cfg: DictConfig) -> None:
    """Print the config tree (rich) on rank 0."""
    if not _is_rank_zero():
        return
    from rich.console import Console
    from rich.syntax import Syntax

    shown = {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k != "hydra"}
    Console(stderr=True).print(Syntax(OmegaConf.to_yaml(shown), "yaml", theme="ansi_dark"))


def instantiate_dict(node: DictConfig | None) -> list[Any]:
    """Instantiate every ``_target_`` entry of a name → config mapping (callbacks, loggers)."""
    if not node:
        return []
    return [instantiate(value) for value in node.values() if isinstance(value, DictConfig) and "_target_" in value]


def build_trainer(cfg: DictConfig, extra_callbacks: list[Any] | None = None, **overrides: Any) -> L.Trainer:
    """The configured Trainer; its device goes into the job's header line (Lightning's banner is filtered)."""
    callbacks = [*instantiate_dict(cfg.get("callbacks")), *(extra_callbacks or [])]
    loggers = instantiate_dict(cfg.get("logger"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, **overrides)
    if trainer.is_global_zero:
        log.info("robustlens %s on %s", cfg.get("task_name", "job"), device_line(device_record(trainer)))
    return trainer


def device_record(trainer: L.Trainer) -> dict[str, Any]:
    """Where a job ran, for ``results.json``: the root device, the accelerator and how many ranks."""
    root = trainer.strategy.root_device
    record: dict[str, Any] = {
        "device": str(root), "accelerator": root.type, "devices": int(trainer.num_devices),
        "num_nodes": int(trainer.num_nodes), "world_size": int(trainer.world_size),
    }
    if root.type == "cuda":
        import torch

        record["device_name"] = torch.cuda.get_device_name(root)
    return record


def device_line(record: dict[str, Any]) -> str:
    """``cuda:0 (NVIDIA H200), 1 of 2 processes`` — the header line's account of the device."""
    name = f" ({record['device_name']})" if record.get("device_name") else ""
    ranks = record["world_size"]
    return f"{record['device']}{name}, {ranks} process{'es' if ranks > 1 else ''}"
