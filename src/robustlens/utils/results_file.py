"""The results file of a job: ``<output_dir>/results.json`` (schema ``robustlens.results/1``), its
contract, its atomic writer and the skip check at job start.

Why: a sweep that dies (OOM, SLURM timeout, Ctrl-C) must be re-runnable without redoing finished
jobs, and the *only* evidence of a finished job is on disk: a ``results.json`` with
``status: complete`` means the whole job is done and may be skipped. A ``status: partial`` file
lists its finished probes in ``completed_probes`` (:mod:`robustlens.utils.probe_checkpoints`).
A corrupt or foreign file is reported (:func:`~robustlens.utils.io.warn_untrusted`) and the job runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from robustlens.utils.io import warn_untrusted, write_json_atomic

RESULTS_SCHEMA = "robustlens.results/1"
RESULTS_FILE = "results.json"
STATUSES = ("complete", "partial", "failed")


class ResultsFileError(ValueError):
    """A results file exists but cannot be trusted (corrupt JSON, wrong schema, bad status)."""


def validate_results(payload: Any, source: str = "results") -> dict[str, Any]:
    """Check the fixed fields of the results contract; raise :class:`ResultsFileError` naming the fix."""
    if not isinstance(payload, dict):
        raise ResultsFileError(f"{source}: expected a JSON object, got {type(payload).__name__}")
    if payload.get("schema") != RESULTS_SCHEMA:
        raise ResultsFileError(
            f"{source}: schema is {payload.get('schema')!r}, expected {RESULTS_SCHEMA!r} "
            "(written by another robustlens version? re-run the job)"
        )
    if payload.get("status") not in STATUSES:
        raise ResultsFileError(f"{source}: status {payload.get('status')!r} is not one of {STATUSES}")
    if not isinstance(payload.get("metrics", {}), dict):
        raise ResultsFileError(f"{source}: 'metrics' must be an object of '<probe>/<metric>' keys")
    return payload


def write_results_atomic(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Validate ``payload`` against the results contract, then write it atomically.

    ``path`` may be the output dir or the ``results.json`` path itself.
    """
    path = Path(path)
    if path.suffix != ".json":
        path = path / RESULTS_FILE
    validate_results(payload, str(path))
    return write_json_atomic(path, payload)


def read_results(output_dir: str | os.PathLike) -> dict[str, Any]:
    """Load and validate ``<output_dir>/results.json``.

    Raises:
        FileNotFoundError: no results file (the job never finished writing).
        ResultsFileError: the file is corrupt or does not follow the contract.
    """
    path = Path(output_dir) / RESULTS_FILE
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ResultsFileError(f"{path}: corrupt results file ({err}); delete it and re-run the job") from err
    except IsADirectoryError as err:
        raise ResultsFileError(f"{path}: is a directory, not a results file; remove it and re-run the job") from err
    return validate_results(payload, str(path))


def job_state(output_dir: str | os.PathLike, overrides: list[str] | None = None) -> tuple[bool, str]:
    """``(is_complete, reason)`` for a job output dir; the reason says why it is not complete.

    With ``overrides``, the stored ``job.overrides`` must match too: a sweeper that numbers
    jobs from 0 on every launch (Optuna) would otherwise mistake another trial's dir for this one.
    """
    path = Path(output_dir) / RESULTS_FILE
    try:
        payload = read_results(output_dir)
    except FileNotFoundError:
        return False, f"{path} does not exist"
    except ResultsFileError as err:
        warn_untrusted(path, str(err).removeprefix(f"{path}: "), "the job runs again")
        return False, str(err)
    if payload["status"] != "complete":
        return False, f"{path}: status is {payload['status']!r}"
    stored = (payload.get("job") or {}).get("overrides")
    if overrides is not None and sorted(stored or []) != sorted(overrides):
        return False, f"{path}: written for overrides {stored}, not {list(overrides)}"
    return True, f"{path}: complete"


def job_is_complete(output_dir: str | os.PathLike, overrides: list[str] | None = None) -> bool:
    """Whether the job in ``output_dir`` finished: results file exists, parses, right schema, complete
    (and, if given, was written for the same ``overrides``)."""
    return job_state(output_dir, overrides)[0]


def load_complete_results(
    output_dir: str | os.PathLike, overrides: list[str] | None = None
) -> dict[str, Any] | None:
    """The results of a finished job, or ``None`` if it must (re-)run — the skip check at job start."""
    return read_results(output_dir) if job_is_complete(output_dir, overrides) else None
