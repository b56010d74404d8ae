"""Gather the ``results.json`` files of a run or a whole (possibly nested) multirun into one
tidy table: one row per (job, metric key), with a column per swept parameter.

Why tidy: every table and plot of the report is a ``pivot`` of this one frame, and tidy rows
keyed by the swept parameters make seeds, grids and nested sweeps all look the same.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from robustlens.report.legacy_keys import current_metrics
from robustlens.utils.resume import RESULTS_FILE, ResultsFileError, read_results

#: fixed columns of the tidy table (swept parameters sit between ``job`` and ``probe``); ``ci_low``
#: and ``ci_high`` are the bounds of the value's confidence interval (NaN where it has none)
TIDY_COLUMNS = ("job", "probe", "metric", "class", "value", "ci_low", "ci_high")
#: the metric-name suffixes under which results.json stores a value's interval bounds
BOUND_COLUMNS = {"/ci_low": "ci_low", "/ci_high": "ci_high"}
REPORT_DIR = "report"


@dataclass
class JobRecord:
    """One job dir as found on disk: its params, status and (for complete jobs) its payload."""

    job: str
    path: Path
    status: str  # complete | partial | failed | missing | corrupt
    params: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] | None = None
    error: str | None = None


def _parse_override(text: str) -> tuple[str, Any] | None:
    """``"attack.eps=0.1"`` → ``("attack.eps", 0.1)``; deletions (``~key``) carry no value."""
    if "=" not in text or text.startswith("~"):
        return None
    key, value = text.split("=", 1)
    key = key.lstrip("+")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    return key, parsed if isinstance(parsed, str | int | float | bool) or parsed is None else value


def _params_from_overrides(job_dir: Path) -> dict[str, Any]:
    path = job_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    overrides = yaml.safe_load(path.read_text()) or []
    return dict(p for p in map(_parse_override, overrides) if p is not None)


def _job_params(job_dir: Path, payload: dict[str, Any] | None) -> dict[str, Any]:
    """Swept params from ``job.sweep_params``; fall back to the job's Hydra overrides file."""
    job = (payload or {}).get("job") or {}
    params = job.get("sweep_params")
    if isinstance(params, dict) and params:
        return dict(params)
    if job.get("overrides"):
        return dict(p for p in map(_parse_override, job["overrides"]) if p is not None)
    return _params_from_overrides(job_dir)


def _error_text(payload: dict[str, Any]) -> str | None:
    error = payload.get("error")
    if not error:
        return None
    if isinstance(error, dict):
        return f"{error.get('type', 'Error')}: {error.get('message', '')}".strip()
    return str(error)


def find_job_dirs(root: str | os.PathLike) -> list[Path]:
    """Every job dir under ``root``: dirs with a ``results.json`` or a Hydra ``.hydra/`` folder.

    A dir with ``.hydra/`` but no results is a job that died before writing (status ``missing``).
    The root of a multirun (``multirun.yaml``, no ``.hydra``) is not a job; ``report/`` is skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"run dir {root} does not exist (pass the folder Hydra wrote the run into)")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in (REPORT_DIR, ".hydra", ".submitit", "probes"))
        here = Path(dirpath)
        if RESULTS_FILE in filenames or (here / ".hydra").is_dir():
            found.append(here)
    return sorted(found, key=lambda p: _natural_key(p.relative_to(root).as_posix()))


def _natural_key(text: str) -> list[Any]:
    """Sort ``2`` before ``10`` (Hydra numbers job dirs)."""
    import re

    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def gather_jobs(root: str | os.PathLike) -> list[JobRecord]:
    """A :class:`JobRecord` for every job dir under ``root`` (a run dir or a multirun dir).

    Metric keys written under older names are renamed to the current ones
    (:mod:`robustlens.report.legacy_keys`), so old and new runs report side by side.
    """
    root = Path(root)
    records = []
    for job_dir in find_job_dirs(root):
        name = job_dir.relative_to(root).as_posix()
        try:
            payload = read_results(job_dir)
        except FileNotFoundError:
            records.append(JobRecord(name, job_dir, "missing", _job_params(job_dir, None),
                                     error=f"no {RESULTS_FILE}: the job did not finish (killed or crashed)"))
            continue
        except ResultsFileError as err:
            records.append(JobRecord(name, job_dir, "corrupt", _job_params(job_dir, None), error=str(err)))
            continue
        if isinstance(payload.get("metrics"), dict):
            payload = {**payload, "metrics": current_metrics(payload["metrics"])}
        records.append(JobRecord(name, job_dir, payload["status"], _job_params(job_dir, payload),
                                 payload=payload, error=_error_text(payload)))
    return records


def split_key(key: str) -> tuple[str, str, float]:
    """``"clean/classwise_accuracy/3"`` → ``("clean", "classwise_accuracy", 3.0)``; overall → NaN class."""
    parts = key.split("/")
    if len(parts) < 2:
        raise ValueError(f"metric key {key!r} must look like '<probe>/<metric>[/<class>]'")
    cls = math.nan
    if len(parts) >= 3 and parts[-1].lstrip("-").isdigit():
        cls = float(parts[-1])
        parts = parts[:-1]
    return parts[0], "/".join(parts[1:]), cls


def _is_scalar(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _records_of(source: str | os.PathLike | list[JobRecord]) -> list[JobRecord]:
    return source if isinstance(source, list) else gather_jobs(source)


def gather(source: str | os.PathLike | list[JobRecord]) -> pd.DataFrame:
    """The tidy table of all **complete** jobs under ``source`` (a path or :func:`gather_jobs` output).

    Columns: ``job``, one column per swept parameter (sorted), ``probe``, ``metric``,
    ``class`` (NaN for overall metrics), ``value`` (NaN where the job stored ``null``) and the
    bounds of its confidence interval, ``ci_low`` and ``ci_high`` (from the keys
    ``<probe>/<metric>/ci_low[/<class>]``; NaN for a value without an interval).
    Matrix- and vector-valued metrics are left out (see :func:`matrices`); jobs that are not
    complete are left out (see :func:`incomplete`).
    """
    records = [r for r in _records_of(source) if r.status == "complete"]
    param_names = sorted({k for r in records for k in r.params})
    rows = []
    for rec in records:
        for key, value in (rec.payload or {}).get("metrics", {}).items():
            if not _is_scalar(value):
                continue
            probe, metric, cls = split_key(key)
            row = {"job": rec.job, **{p: rec.params.get(p, np.nan) for p in param_names}}
            row.update(probe=probe, metric=metric, **{"class": cls},
                       value=math.nan if value is None else float(value))
            rows.append(row)
    columns = ["job", *param_names, "probe", "metric", "class", "value"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["class"] = frame["class"].astype("Int64")  # class indices stay integers; overall = <NA>
    return _bounds_beside_values(frame)


def _bounds_beside_values(frame: pd.DataFrame) -> pd.DataFrame:
    """Move the rows of interval bounds (metric ``<m>/ci_low``) into ``ci_low``/``ci_high`` of ``<m>``'s row."""
    out = frame
    for suffix, column in BOUND_COLUMNS.items():
        is_bound = out["metric"].str.endswith(suffix)
        bounds = out[is_bound].assign(metric=lambda d, n=len(suffix): d["metric"].str[:-n])
        keys = [c for c in out.columns if c not in ("value", "ci_low", "ci_high")]
        bounds = bounds[[*keys, "value"]].rename(columns={"value": column})
        out = out[~is_bound].merge(bounds, on=keys, how="left")
    if "ci_low" not in out:
        out = out.assign(ci_low=np.nan, ci_high=np.nan)
    return out.reset_index(drop=True)


def param_columns(df: pd.DataFrame) -> list[str]:
    """The swept-parameter columns of a tidy frame."""
    return [c for c in df.columns if c not in TIDY_COLUMNS]


def matrices(source: str | os.PathLike | list[JobRecord]) -> dict[tuple[str, str], np.ndarray]:
    """Matrix/vector metrics (e.g. confusion matrices) of complete jobs, keyed by ``(job, metric key)``."""
    out = {}
    for rec in _records_of(source):
        if rec.status != "complete":
            continue
        for key, value in (rec.payload or {}).get("metrics", {}).items():
            if isinstance(value, list):
                out[(rec.job, key)] = np.asarray(value, dtype=float)
    return out


def incomplete(source: str | os.PathLike | list[JobRecord]) -> pd.DataFrame:
    """Jobs that are not complete (failed, partial, missing results, corrupt file) with their error."""
    records = [r for r in _records_of(source) if r.status != "complete"]
    param_names = sorted({k for r in records for k in r.params})
    rows = [{"job": r.job, **{p: r.params.get(p, np.nan) for p in param_names},
             "status": r.status, "error": r.error or ""} for r in records]
    return pd.DataFrame(rows, columns=["job", *param_names, "status", "error"])


def wide(
    df: pd.DataFrame,
    index: list[str] | None = None,
    columns: list[str] | tuple[str, ...] = ("probe", "metric", "class"),
    aggfunc: str = "mean",
) -> pd.DataFrame:
    """Pivot a tidy frame: one row per ``index`` combination (default: job + params), one column per key.

    Duplicate cells (e.g. several seeds when ``index`` omits the seed) are combined with ``aggfunc``.
    """
    index = list(index) if index is not None else ["job", *param_columns(df)]
    columns = list(columns)
    missing = [c for c in [*index, *columns] if c not in df.columns]
    if missing:
        raise KeyError(f"columns {missing} are not in the tidy table; available: {list(df.columns)}")
    frame = df.copy()
    if "class" in columns:  # NaN is not a usable pivot label: overall metrics get class "all"
        frame["class"] = frame["class"].map(lambda c: "all" if pd.isna(c) else str(int(c)))
    grouped = frame.groupby([*index, *columns], dropna=False, sort=True)["value"].agg(aggfunc)
    return grouped.unstack(columns)


def write_tidy(df: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
    """Write ``results_tidy.csv`` and a typed copy (parquet if pyarrow is installed, else pickle)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results_tidy.csv"]
    df.to_csv(written[0], index=False)
    try:
        import pyarrow  # noqa: F401

        written.append(out_dir / "results_tidy.parquet")
        df.to_parquet(written[-1], index=False)
    except ImportError:
        written.append(out_dir / "results_tidy.pkl")
        df.to_pickle(written[-1])
    return written
