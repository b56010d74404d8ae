"""Resume support: decide from a job's output dir what is already done, and write files so
that a killed job never leaves a half-written file that looks finished.

Why: a sweep or a long evaluation that dies (OOM, SLURM timeout, Ctrl-C) must be re-runnable
without redoing finished work. The *only* evidence of finished work is on disk:

- ``<output_dir>/results.json`` (schema ``robustlens.results/1``) with ``status: complete``
  means the whole job is done; the job may be skipped.
- ``<output_dir>/probes/<probe>.json`` is the per-probe checkpoint: written atomically when a
  probe has finished on the whole evaluation set, with the format::

      {"schema": "robustlens.probe/1", "probe": "<name>", "status": "complete",
       "params": {...probe.describe()...}, "metrics": {"<probe>/<metric>[/<class>]": value, ...},
       "finished": "<iso time>", "table": {"file": "<probe>.csv", "sha256": "...", "rows": N}}

  beside its per-sample table ``probes/<probe>.csv``; a table whose checksum or row count does not
  match is never reused (:func:`read_probe_table`).

  A resumed evaluation runs only the probes missing from :func:`completed_probes`. A
  ``results.json`` with ``status: partial`` lists its finished probes in ``completed_probes``
  and counts the same.

Every file is written with :func:`write_json_atomic` (temp file in the same directory, fsync,
``os.replace``), so a reader sees either the old file or the complete new one. A file that is corrupt
anyway (a disk error, a hand edit, a copy cut short) is reported by :func:`warn_untrusted` — a log line
and an :class:`UntrustedFileWarning`, both naming the file — and its unit is recomputed: never silently
reused, never a crash. Training checkpoints are checked the same way (:func:`resumable_checkpoint`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

from robustlens.utils.io import write_text_atomic

log = logging.getLogger("robustlens")

RESULTS_SCHEMA = "robustlens.results/1"
PROBE_SCHEMA = "robustlens.probe/1"
RESULTS_FILE = "results.json"
PROBES_DIR = "probes"
STATUSES = ("complete", "partial", "failed")


class ResultsFileError(ValueError):
    """A results file exists but cannot be trusted (corrupt JSON, wrong schema, bad status)."""


class UntrustedFileWarning(UserWarning):
    """A file of an earlier run is corrupt or truncated: it is ignored and its unit is recomputed."""


def warn_untrusted(path: str | os.PathLike, problem: str, consequence: str) -> None:
    """Say loudly that ``path`` is ignored (log + Python warning), so it is never silently reused or dropped.

    Why both: the log line lands in the job's log file (what a user reads after a sweep), the warning
    is what tests and ``-W error`` runs see.
    """
    message = f"{path}: {problem}; {consequence}"
    log.warning(message)
    warnings.warn(message, UntrustedFileWarning, stacklevel=3)


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (the probe checkpoint stores it for its per-sample table)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_default(obj: Any) -> Any:
    """Make tensors, numpy scalars/arrays and paths JSON-serialisable (why: metrics are tensors)."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serialisable")


def _finite_or_none(obj: Any) -> Any:
    """NaN/inf are not valid JSON; store them as ``null`` so every JSON reader can parse the file."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as JSON to ``path`` atomically (NaN/inf stored as ``null``)."""
    text = json.dumps(_finite_or_none(json.loads(json.dumps(payload, default=_json_default))), indent=2)
    return write_text_atomic(path, text)


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


def write_probe_checkpoint(
    output_dir: str | os.PathLike,
    probe: str,
    metrics: dict[str, Any],
    params: dict[str, Any] | None = None,
    table: str | os.PathLike | None = None,
) -> Path:
    """Record that ``probe`` has finished (see the module docstring for the format).

    ``table``: the probe's per-sample file, written before this call; its name, row count and SHA-256
    go into the checkpoint, so a resumed run can tell a truncated or altered table from the real one.
    """
    from datetime import datetime, timezone

    if not probe or "/" in probe:
        raise ValueError(f"probe name {probe!r} must be non-empty and contain no '/'")
    payload = {
        "schema": PROBE_SCHEMA,
        "probe": probe,
        "status": "complete",
        "params": params or {},
        "metrics": metrics,
        "finished": datetime.now(timezone.utc).isoformat(),
    }
    if table is not None:
        table = Path(table)
        with open(table, "rb") as handle:
            rows = max(sum(1 for _ in handle) - 1, 0)  # minus the header line
        payload["table"] = {"file": table.name, "sha256": file_sha256(table), "rows": rows}
    return write_json_atomic(Path(output_dir) / PROBES_DIR / f"{probe}.json", payload)


def _probe_problem(payload: Any, stem: str) -> str | None:
    """Why a parsed probe checkpoint cannot be trusted, or ``None``."""
    if not isinstance(payload, dict):
        return f"expected a JSON object, got {type(payload).__name__}"
    if payload.get("schema") != PROBE_SCHEMA:
        return f"schema is {payload.get('schema')!r}, expected {PROBE_SCHEMA!r}"
    if payload.get("status") != "complete":
        return f"status is {payload.get('status')!r}, not 'complete'"
    if payload.get("probe") != stem:
        return f"records probe {payload.get('probe')!r}, not {stem!r} (a renamed or copied file)"
    if not isinstance(payload.get("metrics"), dict):
        return "has no 'metrics' object"
    return None


def read_probe_checkpoints(output_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """All valid per-probe checkpoints by probe name.

    A torn, corrupt or foreign file is never taken for a finished probe: it is reported
    (:func:`warn_untrusted`, naming the file) and left out, so that probe runs again.
    """
    found: dict[str, dict[str, Any]] = {}
    for file in sorted((Path(output_dir) / PROBES_DIR).glob("*.json")):
        try:
            payload = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            warn_untrusted(file, f"unreadable probe checkpoint ({err})", f"probe {file.stem!r} runs again")
            continue
        problem = _probe_problem(payload, file.stem)
        if problem is not None:
            warn_untrusted(file, f"untrusted probe checkpoint: {problem}", f"probe {file.stem!r} runs again")
            continue
        found[file.stem] = payload
    return found


def read_probe_table(output_dir: str | os.PathLike, record: dict[str, Any]) -> Any:
    """The per-sample table (a pandas DataFrame) of a finished probe, or ``None`` (with a warning naming the
    file) when it is missing, truncated, altered or unparsable — then the probe runs again.

    ``record`` is the probe's checkpoint (:func:`read_probe_checkpoints`); its ``table`` entry (SHA-256, row
    count) is what makes a truncated table detectable even when the cut falls on a line boundary. A checkpoint
    written before tables were hashed is checked for parseability only.
    """
    import pandas as pd

    name = record.get("probe", "?")
    meta = record.get("table") if isinstance(record.get("table"), dict) else {}
    path = Path(output_dir) / PROBES_DIR / str(meta.get("file") or f"{name}.csv")
    again = f"probe {name!r} runs again"
    if not path.is_file():
        warn_untrusted(path, "the per-sample table of a finished probe is missing", again)
        return None
    if meta.get("sha256") and file_sha256(path) != meta["sha256"]:
        warn_untrusted(path, "the per-sample table does not match the checksum of its probe checkpoint "
                       "(truncated or altered)", again)
        return None
    try:
        table = pd.read_csv(path)
    except Exception as err:  # pandas raises several types for torn files
        warn_untrusted(path, f"unparsable per-sample table ({type(err).__name__}: {err})", again)
        return None
    if "rows" in meta and len(table) != int(meta["rows"]):
        warn_untrusted(path, f"the per-sample table has {len(table)} rows, its checkpoint says {meta['rows']}", again)
        return None
    if not {"index", "label"} <= set(table.columns):
        warn_untrusted(path, "the per-sample table lacks its 'index'/'label' columns", again)
        return None
    return table


def completed_probes(output_dir: str | os.PathLike) -> set[str]:
    """Probes that need not run again: from per-probe checkpoints and a partial/complete results file."""
    done = set(read_probe_checkpoints(output_dir))
    try:
        payload = read_results(output_dir)
    except FileNotFoundError:
        return done
    except ResultsFileError as err:
        warn_untrusted(Path(output_dir) / RESULTS_FILE, str(err).split(": ", 1)[-1], "its probes are not reused")
        return done
    if payload["status"] == "complete":
        done |= set(payload.get("completed_probes") or payload.get("probes", {}))
    elif payload["status"] == "partial":
        done |= set(payload.get("completed_probes") or [])
    return done


#: what a Lightning checkpoint of a fit must hold to be resumed from
_CHECKPOINT_KEYS = ("state_dict", "epoch", "global_step", "loops", "optimizer_states")


def _load_checkpoint(path: str | os.PathLike) -> tuple[Any, str | None]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=False), None
    except Exception as err:  # torch raises RuntimeError/EOFError/UnpicklingError/... for torn files
        return None, f"unloadable checkpoint ({type(err).__name__}: {str(err)[:200]})"


def checkpoint_problem(path: str | os.PathLike) -> str | None:
    """Why the Lightning checkpoint at ``path`` cannot be resumed from (unloadable, truncated, not a
    training checkpoint), or ``None`` when it can."""
    return _checkpoint_payload_problem(*_load_checkpoint(path))


def _checkpoint_payload_problem(payload: Any, load_error: str | None) -> str | None:
    if load_error is not None:
        return load_error
    if not isinstance(payload, dict):
        return f"not a Lightning checkpoint (a {type(payload).__name__})"
    missing = [key for key in _CHECKPOINT_KEYS if key not in payload]
    if missing:
        return f"not a resumable training checkpoint (lacks {', '.join(missing)})"
    return None


def resumable_checkpoint(directory: str | os.PathLike, max_epochs: int | None = None) -> Path | None:
    """The newest checkpoint in ``directory`` a killed or requeued fit can continue from, or ``None``.

    Why: a training job that was pre-empted, requeued or killed must continue from its last finished
    epoch instead of starting again, and a checkpoint torn by the kill must never be loaded. Candidates
    are tried newest first (``last.ckpt`` before the epoch checkpoints on a tie); every unusable one is
    reported by name and skipped, so a torn ``last.ckpt`` falls back to the newest intact epoch checkpoint
    (the epochs after it are recomputed).

    With ``max_epochs``, a checkpoint of the fit's final epoch is passed over: the job was killed after
    training but before its results were written, and the final epoch's training metrics live only in
    the process that died — so that epoch is trained again from an earlier checkpoint (same result).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return None
    candidates = sorted(directory.glob("*.ckpt"), key=lambda f: (f.stat().st_mtime, f.name == "last.ckpt"),
                        reverse=True)
    for candidate in candidates:
        payload, load_error = _load_checkpoint(candidate)
        problem = _checkpoint_payload_problem(payload, load_error)
        if problem is not None:
            warn_untrusted(candidate, problem, "not resumed from (the training it holds is recomputed)")
            continue
        if max_epochs is not None and max_epochs > 0 and int(payload["epoch"]) + 1 >= max_epochs:
            log.info("%s: holds the finished fit but not its final metrics; resuming from an earlier one", candidate)
            continue
        return candidate
    return None


def optuna_storage(url: str) -> Any:
    """A persistent Optuna ``RDBStorage`` for ``url`` (e.g. ``sqlite:///<sweep dir>/optuna.db``).

    Why not the plain URL string: optuna 2.10 (the version hydra-optuna-sweeper 1.3 pins) cannot
    create a new RDB storage under SQLAlchemy 2 — it stamps the alembic version on a connection
    that is never committed, then fails its own schema check (``AssertionError``) or hits
    "database is locked". We create the tables and stamp the version in a committed transaction
    first; afterwards optuna's own code finds an initialised database. Idempotent: an existing
    study database is opened unchanged, which is what makes an interrupted study continue.
    """
    import optuna
    import sqlalchemy
    from alembic.migration import MigrationContext
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _VersionManager

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = sqlalchemy.create_engine(url)
    try:
        models.BaseModel.metadata.create_all(engine)
        manager = _VersionManager.__new__(_VersionManager)  # only for its alembic script helpers
        manager.url, manager.engine = url, engine
        with engine.begin() as conn:
            context = MigrationContext.configure(conn)
            if context.get_current_revision() is None:
                context.stamp(manager._create_alembic_script(), manager.get_head_version())
    finally:
        engine.dispose()
    return optuna.storages.RDBStorage(url)
