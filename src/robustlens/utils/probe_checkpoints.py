"""Per-probe checkpoints: an interrupted evaluation resumes probe by probe.

``<output_dir>/probes/<probe>.json`` is written atomically when a probe has finished on the whole
evaluation set, with the format::

    {"schema": "robustlens.probe/1", "probe": "<name>", "status": "complete",
     "params": {...probe.describe()...}, "metrics": {"<probe>/<metric>[/<class>]": value, ...},
     "finished": "<iso time>", "table": {"file": "<probe>.csv", "sha256": "...", "rows": N}}

beside its per-sample table ``probes/<probe>.csv``; a table whose checksum or row count does not
match is never reused (:func:`read_probe_table`). A resumed evaluation runs only the probes missing
from :func:`completed_probes`; a ``results.json`` with ``status: partial`` lists its finished probes in
``completed_probes`` and counts the same. A torn, corrupt or foreign file is reported
(:func:`~robustlens.utils.io.warn_untrusted`) and its probe runs again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from robustlens.utils.io import file_sha256, warn_untrusted, write_json_atomic
from robustlens.utils.results_file import RESULTS_FILE, ResultsFileError, read_results

PROBE_SCHEMA = "robustlens.probe/1"
PROBES_DIR = "probes"


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
