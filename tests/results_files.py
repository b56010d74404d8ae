"""Build results files that follow the results contract, for tests and toy apps.

Why one builder: the toy Hydra app, the report, sweep and fault tests all need realistic job
dirs; one builder keeps them to the same contract. A test helper, so it lives in ``tests/``.
"""

from __future__ import annotations

import os
import traceback as tb
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from robustlens.utils.results_file import RESULTS_SCHEMA, write_results_atomic


def make_results(
    metrics: dict[str, Any],
    *,
    status: str = "complete",
    sweep_params: dict[str, Any] | None = None,
    task: str = "evaluate",
    output_dir: str | os.PathLike = "",
    job_num: int = 0,
    error: BaseException | dict[str, str] | None = None,
    seed: int = 0,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A results payload (schema ``robustlens.results/1``) with the given metrics."""
    sweep_params = dict(sweep_params or {})
    if isinstance(error, BaseException):
        error = {
            "type": type(error).__name__,
            "message": str(error),
            "traceback": "".join(tb.format_exception(type(error), error, error.__traceback__)),
        }
    now = datetime.now(timezone.utc).isoformat()
    probes = sorted({k.split("/")[0] for k in metrics})
    return {
        "schema": RESULTS_SCHEMA,
        "status": status,
        "task": task,
        "error": error,
        "job": {
            "name": "toy",
            "overrides": [f"{k}={v}" for k, v in sweep_params.items()],
            "sweep_params": sweep_params,
            "output_dir": str(output_dir),
            "job_num": job_num,
        },
        "config": config or {},
        "versions": {"robustlens": "test"},
        "seed": seed,
        "timing": {"started": now, "finished": now, "seconds": 0.0},
        "probes": {p: {"type": "Toy", "params": {}} for p in probes},
        "metrics": metrics,
        "completed_probes": probes if status == "complete" else [],
    }


def write_job(
    job_dir: str | os.PathLike,
    metrics: dict[str, Any],
    *,
    write_overrides: bool = True,
    **kwargs: Any,
) -> Path:
    """Write a Hydra-like job dir: ``results.json`` plus ``.hydra/overrides.yaml``."""
    job_dir = Path(job_dir)
    payload = make_results(metrics, output_dir=job_dir, **kwargs)
    if write_overrides:
        (job_dir / ".hydra").mkdir(parents=True, exist_ok=True)
        (job_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(payload["job"]["overrides"]))
    return write_results_atomic(job_dir, payload)
