"""Read back what an offline W&B run logged (its binary ``run-*.wandb`` record file).

Why: with no W&B server, scalars exist only in that file (tables and images also land in
``files/media``). Tests and users checking an offline run before ``wandb sync`` need the
logged keys and values without uploading. The file is W&B's LevelDB-log-style record
stream (7-byte file header, 32 KiB blocks, 7-byte chunk headers) of protobuf ``Record``s,
as written by wandb's data store; this reader implements that framing only.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FILE_HEADER = struct.Struct("<4sHB")
_CHUNK_HEADER = struct.Struct("<IHB")
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def iter_records(path: str | Path) -> Iterator[Any]:
    """Yield the protobuf ``Record`` messages of a ``.wandb`` file."""
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    ident, _magic, _version = _FILE_HEADER.unpack_from(data, 0)
    if ident != b":W&B":
        raise ValueError(f"{path} is not a W&B record file")
    pos, pending = _FILE_HEADER.size, b""
    while pos + _CHUNK_HEADER.size <= len(data):
        if _BLOCK - pos % _BLOCK < _CHUNK_HEADER.size:  # block trailer padding
            pos += _BLOCK - pos % _BLOCK
            continue
        _crc, length, kind = _CHUNK_HEADER.unpack_from(data, pos)
        pos += _CHUNK_HEADER.size
        chunk, pos = data[pos : pos + length], pos + length
        if kind == 0 and length == 0:
            break
        if kind == _FULL:
            pending = chunk
        elif kind == _FIRST:
            pending = chunk
            continue
        elif kind == _MIDDLE:
            pending += chunk
            continue
        elif kind == _LAST:
            pending += chunk
        record = wandb_internal_pb2.Record()
        record.ParseFromString(pending)
        yield record
        pending = b""


def logged_history(path: str | Path) -> list[dict[str, Any]]:
    """The ``wandb.log`` rows (history) of a run: one dict of key → value per logged step."""
    rows = []
    for record in iter_records(path):
        if record.WhichOneof("record_type") == "history":
            rows.append({item.key or "/".join(item.nested_key): _decode(item.value_json) for item in record.history.item})
    return rows


def logged_summary(path: str | Path) -> dict[str, Any]:
    """The last summary update of a run (``run.summary``)."""
    summary: dict[str, Any] = {}
    for record in iter_records(path):
        if record.WhichOneof("record_type") == "summary":
            for item in record.summary.update:
                summary[item.key or "/".join(item.nested_key)] = _decode(item.value_json)
    return summary


def find_run_files(root: str | Path) -> list[Path]:
    """Every ``run-*.wandb`` file below ``root`` (offline runs live in ``wandb/offline-run-*``)."""
    return sorted(Path(root).rglob("run-*.wandb"))


def _decode(value_json: str) -> Any:
    try:
        return json.loads(value_json)
    except json.JSONDecodeError:
        return value_json


def wait_for_finished_run(path: str | Path, timeout: float = 60.0) -> Path:
    """Wait until the run file at ``path`` holds its ``exit`` record, then return ``path``.

    Why: ``wandb.finish()`` hands the last records to W&B's service process, which writes them
    to the file on its own schedule; on a loaded machine a reader right after ``finish()`` can
    see a file without its history yet.
    """
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            if any(r.WhichOneof("record_type") == "exit" for r in iter_records(path)):
                return Path(path)
        except Exception:  # a file still being written may end mid-record
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path}: no exit record after {timeout:.0f} s (was the run finished?)")
        time.sleep(0.2)
