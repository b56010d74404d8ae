"""Atomic file writes and untrusted files: a results file is either absent, or complete and parseable.

Every file of a job is written with :func:`write_text_atomic` / :func:`write_json_atomic` (temp file in
the same directory, fsync, ``os.replace``), so a reader sees either the old file or the complete new one.
A file that is corrupt anyway (a disk error, a hand edit, a copy cut short) is reported by
:func:`warn_untrusted` — a log line and an :class:`UntrustedFileWarning`, both naming the file — and its
unit is recomputed: never silently reused, never a crash.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger("robustlens")


class ResultsWriteError(OSError):
    """A results/probe/table file could not be written (full disk, quota, permissions): names the path.

    Why a type of its own: ``OSError`` from ``write()`` carries no file name, so "[Errno 28] No space left
    on device" alone does not say which file of which job failed nor that the earlier file is intact.
    """


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (a crash right after ``os.replace`` must not undo it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temp file in the same dir, fsync and ``os.replace``.

    Why: a job killed mid-write must never leave a truncated results file that a resumed
    sweep would take for a finished one. A failed write (e.g. a full disk) removes the temp file,
    leaves any previous ``path`` untouched and raises :class:`ResultsWriteError` naming ``path``.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as err:
        reason = err.strerror or str(err)
        hint = " (the disk is full: free space or point paths.log_dir elsewhere)" if err.errno in (
            errno.ENOSPC, errno.EDQUOT) else ""
        raise ResultsWriteError(
            err.errno, f"cannot write {path}: {reason}{hint}; the previous version of this file, if any, is unchanged"
        ) from err
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


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
