"""The console summary of an evaluation: readable in an 80-column terminal or a SLURM log.

Why this layout: one row per probe and one column per headline metric, with each header
wrapped after its underscores (``flip_rate`` → ``flip_`` / ``rate``) so no name is cut to
``accura…``; when the metrics do not fit the console's width side by side, they are spread
over several tables, each repeating the probe column (the layout every console table shares,
:func:`robustlens.utils.console_tables.fit_tables`). A value with an interval reads
``0.458 ± 0.040``: ± half the interval's width, rounded to two significant digits and the value
to the same decimals (Wilson and bootstrap intervals are not symmetric: their bounds are in
``results.json``). Statistics beyond the mean and the per-class values are in ``results.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from robustlens.evaluation.scalars import BOUND_SUFFIXES, headline_scalars
from robustlens.metrics.intervals import interval_keys
from robustlens.utils.console_tables import Column, fit_tables

#: suffixes of a metric's summary statistics (``<name>_std`` ...) and of GREAT Score's Hoeffding bounds, left to the results files
STATISTIC_SUFFIXES = ("_std", "_min", "_q25", "_median", "_q75", "_max", "_hoeffding_low", "_hoeffding_high")
#: headline values that are counts, not rates
HIDDEN = ("num_errors",)


def summary_metrics(metrics: Mapping[str, Any]) -> list[str]:
    """The metric names shown, in the order they first appear."""
    shown: list[str] = []
    for key in headline_scalars(metrics):
        name = key.split("/", 1)[1]
        if name.endswith(BOUND_SUFFIXES):
            continue
        if name not in shown and name not in HIDDEN and not name.endswith(STATISTIC_SUFFIXES):
            shown.append(name)
    return shown


def _cell(value: Any, low: Any = None, high: Any = None) -> str:
    """``0.4583`` without an interval, ``0.458 ± 0.040`` with one (± half its width)."""
    if value is None:
        return ""
    if low is None or high is None or math.isnan(value) or math.isnan(low) or math.isnan(high):
        return f"{value:.4g}"
    half = (high - low) / 2
    decimals = 4 if half <= 0 else min(max(1 - math.floor(math.log10(half)), 0), 6)
    return f"{value:.{decimals}f} ± {half:.{decimals}f}"


def _interval_cell(scalars: Mapping[str, float], key: str) -> str:
    low, high = interval_keys(key)
    return _cell(scalars.get(key), scalars.get(low), scalars.get(high))


def summary_tables(metrics: Mapping[str, Any], probes: Sequence[str], num_classes: int, width: int = 80) -> list[Table]:
    """The summary as rich tables, each at most ``width`` characters wide."""
    scalars = headline_scalars(metrics)
    names = summary_metrics(metrics)
    rows = [p for p in [*probes, "worst_case"] if any(f"{p}/{m}" in scalars for m in names)]
    if not rows or not names:
        return []
    columns = [Column("probe", rows, label=True)]
    columns += [Column(m, [_interval_cell(scalars, f"{p}/{m}") for p in rows], justify="right") for m in names]
    return fit_tables(columns, width=width, title=f"robustlens evaluation: {num_classes} classes",
                      caption="± half the confidence interval (evaluation.interval_level); its bounds, "
                      "per-class values and statistics: results.json"
                      if any(k.endswith(BOUND_SUFFIXES) for k in scalars)
                      else "per-class values and statistics: results.json", drop_empty_rows=True)


#: the cost columns of the console (``<probe>/cost/<field>``), with their headers
COST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("seconds", "seconds"),
    ("forward_per_sample", "forward/sample"),
    ("backward_per_sample", "backward/sample"),
    ("generator_forward_per_sample", "gen_forward/sample"),
    ("generator_backward_per_sample", "gen_backward/sample"),
    ("peak_memory_mb", "peak_MiB"),
)


def cost_tables(
    metrics: Mapping[str, Any], probes: Sequence[str], records: Mapping[str, Any] | None = None, width: int = 80
) -> list[Table]:
    """What each probe and the job cost (``<probe>/cost/*``, ``job/cost/*``), at most ``width`` wide.

    Generator columns appear only when some probe used a generator; ``records`` (the probes'
    descriptions, whose ``cost`` holds device and precision) adds a precision column and the
    device to the caption.
    """
    rows = [p for p in [*probes, "job"] if f"{p}/cost/seconds" in metrics]
    if not rows:
        return []

    def value(probe: str, field: str) -> Any:
        found = metrics.get(f"{probe}/cost/{field}")
        return found if isinstance(found, int | float) else None

    columns = [Column("probe", rows, label=True)]
    for field, header in COST_COLUMNS:
        cells = [value(p, field) for p in rows]
        if field.startswith("generator_") and not any(cells):
            continue
        columns.append(Column(header, [_cell(c) for c in cells], justify="right"))
    cost_records = {p: (records or {}).get(p, {}).get("cost", {}) for p in rows}
    if any(r.get("precision") for r in cost_records.values()):
        columns.append(Column("precision", [cost_records[p].get("precision", "") for p in rows]))
    devices = sorted({r["device"] for r in cost_records.values() if r.get("device")})
    caption = f"device: {', '.join(devices)}" if devices else "cost: results.json"
    return fit_tables(columns, width=width, title="what each probe cost", caption=caption)


def print_cost_summary(
    metrics: Mapping[str, Any], probes: Sequence[str], records: Mapping[str, Any] | None = None,
    console: Console | None = None,
) -> None:
    """Print :func:`cost_tables` at the console's width."""
    console = console or Console()
    for table in cost_tables(metrics, probes, records, width=console.width):
        console.print(table)


def print_summary(
    metrics: Mapping[str, Any], probes: Sequence[str], num_classes: int, console: Console | None = None
) -> None:
    """Print :func:`summary_tables` at the console's width (80 columns when it has none, e.g. a log file)."""
    console = console or Console()
    for table in summary_tables(metrics, probes, num_classes, width=console.width):
        console.print(table)
