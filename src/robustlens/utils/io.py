"""Atomic file writes: a results file is either absent, or complete and parseable."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


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
