"""The console summary of an evaluation: readable in an 80-column terminal or a SLURM log.

Why this layout: one row per probe and one column per headline metric, with each header
wrapped at its underscores (``flip_rate`` → ``flip`` / ``rate``) so no name is cut to
``accura…``; when the metrics do not fit the console's width side by side, they are spread
over several tables, each repeating the probe column. Statistics beyond the mean and the
per-class values are in ``results.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from robustlens.evaluation.scalars import headline_scalars

#: suffixes of a metric's summary statistics (``<name>_std`` ...), left to the results files
STATISTIC_SUFFIXES = ("_std", "_min", "_q25", "_median", "_q75", "_max")
#: headline values that are counts, not rates
HIDDEN = ("num_errors",)


def summary_metrics(metrics: Mapping[str, Any]) -> list[str]:
    """The metric names shown, in the order they first appear."""
    shown: list[str] = []
    for key in headline_scalars(metrics):
        name = key.split("/", 1)[1]
        if name not in shown and name not in HIDDEN and not name.endswith(STATISTIC_SUFFIXES):
            shown.append(name)
    return shown


def _header(name: str) -> str:
    return name.replace("_", "\n")


def _cell(value: Any) -> str:
    return "" if value is None else f"{value:.4g}"


def summary_tables(metrics: Mapping[str, Any], probes: Sequence[str], num_classes: int, width: int = 80) -> list[Table]:
    """The summary as rich tables, each at most ``width`` characters wide."""
    scalars = headline_scalars(metrics)
    names = summary_metrics(metrics)
    rows = [p for p in [*probes, "worst_case"] if any(f"{p}/{m}" in scalars for m in names)]
    if not rows or not names:
        return []
    probe_width = max(len("probe"), *(len(p) for p in rows)) + 3
    widths = {
        m: max(max(len(part) for part in m.split("_")), *(len(_cell(scalars.get(f"{p}/{m}"))) for p in rows)) + 3
        for m in names
    }
    chunks: list[list[str]] = [[]]
    used = probe_width + 1
    for m in names:
        if chunks[-1] and used + widths[m] > width:
            chunks.append([])
            used = probe_width + 1
        chunks[-1].append(m)
        used += widths[m]
    tables = []
    for i, chunk in enumerate(chunks):
        title = f"robustlens evaluation: {num_classes} classes" + (f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else "")
        table = Table(title=title, caption="per-class values and statistics: results.json" if i == len(chunks) - 1 else None)
        table.add_column("probe", no_wrap=True)
        for m in chunk:
            table.add_column(_header(m), justify="right", no_wrap=True)
        for p in rows:
            cells = [_cell(scalars.get(f"{p}/{m}")) for m in chunk]
            if any(cells):
                table.add_row(p, *cells)
        tables.append(table)
    return tables


def print_summary(
    metrics: Mapping[str, Any], probes: Sequence[str], num_classes: int, console: Console | None = None
) -> None:
    """Print :func:`summary_tables` at the console's width (80 columns when it has none, e.g. a log file)."""
    console = console or Console()
    for table in summary_tables(metrics, probes, num_classes, width=console.width):
        console.print(table)
