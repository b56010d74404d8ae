"""Tables from the tidy results: rows = swept parameters, columns = probe/metric keys,
aggregated over everything else (typically seeds), rendered as Markdown or LaTeX.

Why an own Markdown renderer: pandas' ``to_markdown`` needs ``tabulate``, which is not a
robustlens dependency (and is not installed in the dev env); a pipe table is ten lines.
LaTeX goes through ``DataFrame.to_latex`` (needs jinja2, a dependency of torch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Annotated, Literal

import pandas as pd
from pydantic import Field
from rich.table import Table as RichTable

from robustlens.report.collect import param_columns
from robustlens.utils.console_tables import Column, fit_tables

log = logging.getLogger(__name__)

Aggregate = Literal["mean", "mean_std", "none"]
Format = Literal["markdown", "latex", "both"]
KEY_FIELDS = ("probe", "metric", "class")


@dataclass
class TableSpec:
    """What a report table shows (``conf/table/*.yaml`` instantiates this).

    Args:
        rows: tidy columns that label the rows (swept parameters such as ``training.mode``).
        columns: tidy columns that label the columns (default: ``probe`` and ``metric``).
        metrics: which metrics to keep: ``"accuracy"`` (any probe) or ``"pgd/accuracy"``;
            empty = all.
        classes: ``"overall"`` keeps only overall metrics, ``"all"`` keeps class-wise ones too.
        aggregate: ``mean`` / ``mean_std`` (mean ± std over the jobs that share a cell, e.g.
            seeds) / ``none`` (a cell must come from exactly one job).
        format: ``markdown``, ``latex`` or ``both``.
        decimals: digits after the point in the rendered table.
        scale: multiply values before rendering (100 for percentages).
        caption: LaTeX caption / Markdown heading.
        intervals: show each cell's confidence interval, ``0.458 [0.418, 0.498]`` (``table.intervals=true``):
            the interval results.json stores beside the value, for a cell that comes from one job
            (a cell aggregated over several jobs keeps ``mean ± std``).
    """

    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: ["probe", "metric"])
    metrics: list[str] = field(default_factory=list)
    classes: Literal["overall", "all"] = "overall"
    aggregate: Aggregate = "mean_std"
    format: Format = "markdown"
    decimals: Annotated[int, Field(ge=0, le=12)] = 4
    scale: Annotated[float, Field(gt=0)] = 1.0
    caption: str | None = None
    intervals: bool = False

    def __post_init__(self) -> None:
        self.rows, self.columns, self.metrics = list(self.rows), list(self.columns), list(self.metrics)
        if self.aggregate not in ("mean", "mean_std", "none"):
            raise ValueError(f"aggregate={self.aggregate!r}: use 'mean', 'mean_std' or 'none'")
        if self.format not in ("markdown", "latex", "both"):
            raise ValueError(f"format={self.format!r}: use 'markdown', 'latex' or 'both'")
        if self.classes not in ("overall", "all"):
            raise ValueError(f"classes={self.classes!r}: use 'overall' or 'all'")


@dataclass
class Table:
    """A built table: ``mean`` (numbers), ``std`` and ``count`` per cell; flat string column labels;
    ``low`` and ``high``: the bounds of a one-job cell's interval (NaN otherwise)."""

    mean: pd.DataFrame
    std: pd.DataFrame
    count: pd.DataFrame
    spec: TableSpec
    low: pd.DataFrame | None = None
    high: pd.DataFrame | None = None


def _select(df: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    out = df
    if spec.classes == "overall":
        out = out[out["class"].isna()]
    if spec.metrics:
        key = out["probe"] + "/" + out["metric"]
        unmatched = [m for m in spec.metrics if not ((out["metric"] == m) | (key == m)).any()]
        if unmatched:  # a misspelt key would otherwise just be a missing column
            log.warning("table metrics %s match no result; the results have e.g. %s", unmatched,
                        sorted(set(key))[:8])
        out = out[out["metric"].isin(spec.metrics) | key.isin(spec.metrics)]
    return out


def _label(values: tuple | object) -> str:
    parts = values if isinstance(values, tuple) else (values,)
    return "/".join("all" if pd.isna(p) else str(int(p)) if isinstance(p, float) and p.is_integer()
                    else str(p) for p in parts)


def build_table(df: pd.DataFrame, spec: TableSpec) -> Table:
    """Aggregate the tidy frame into the table ``spec`` describes."""
    unknown = [c for c in [*spec.rows, *spec.columns] if c not in df.columns]
    if unknown:
        raise KeyError(
            f"table rows/columns {unknown} are not in the results; swept parameters are "
            f"{param_columns(df)} and key columns are {list(KEY_FIELDS)}"
        )
    data = _select(df, spec)
    if data.empty:
        raise ValueError(f"no results match metrics={spec.metrics} classes={spec.classes!r}")
    data = data.assign(_col=[_label(t) for t in data[spec.columns].itertuples(index=False, name=None)])
    group = list(spec.rows) or [data["job"].map(lambda _: "all").rename("")]
    grouped = data.groupby([*group, "_col"], dropna=False, sort=True)["value"]
    stats = grouped.agg(["mean", "std", "count"])
    if spec.aggregate == "none" and (stats["count"] > 1).any():
        dup = stats[stats["count"] > 1].index[0]
        raise ValueError(
            f"cell {dup} has {int(stats['count'].max())} values but aggregate='none'; add the parameter "
            "that tells them apart (e.g. seed) to rows/columns or use aggregate: mean_std"
        )
    if {"ci_low", "ci_high"} <= set(data.columns):  # one job's bounds; none for an aggregate of jobs
        for bound in ("ci_low", "ci_high"):
            first = data.groupby([*group, "_col"], dropna=False, sort=True)[bound].first()
            stats[bound] = first.where(stats["count"] == 1)
    else:
        stats["ci_low"] = stats["ci_high"] = float("nan")
    col_order = list(dict.fromkeys(data["_col"]))
    names = ("mean", "std", "count", "ci_low", "ci_high")
    frames = {s: stats[s].unstack("_col").reindex(columns=col_order) for s in names}
    for frame in frames.values():
        frame.columns.name = None
    return Table(frames["mean"], frames["std"], frames["count"], spec, frames["ci_low"], frames["ci_high"])


def format_cells(table: Table) -> pd.DataFrame:
    """The table as strings: ``mean`` or ``mean ± std`` scaled and rounded as the spec says, and
    ``mean [low, high]`` for a one-job cell with an interval when the spec asks for intervals."""
    spec = table.spec
    d = spec.decimals

    def cell(mean: float, std: float, count: float, low: float, high: float) -> str:
        if pd.isna(mean):
            return "–"
        text = f"{mean * spec.scale:.{d}f}"
        if spec.aggregate == "mean_std" and count > 1:
            text += f" ± {std * spec.scale:.{d}f}"
        elif spec.intervals and not (pd.isna(low) or pd.isna(high)):
            text += f" [{low * spec.scale:.{d}f}, {high * spec.scale:.{d}f}]"
        return text

    nan = pd.DataFrame(float("nan"), index=table.mean.index, columns=table.mean.columns)
    low = table.low if table.low is not None else nan
    high = table.high if table.high is not None else nan
    out = table.mean.copy().astype(object)
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            out.iat[r, c] = cell(table.mean.iat[r, c], table.std.iat[r, c], table.count.iat[r, c],
                                 low.iat[r, c], high.iat[r, c])
    return out


def _row_labels(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    names = [str(n) if n is not None else "" for n in frame.index.names]
    labels = [[_label(v) for v in (key if isinstance(key, tuple) else (key,))] for key in frame.index]
    return names, labels


def to_markdown(table: Table) -> str:
    """A GitHub pipe table (row labels first), with the caption as a heading line if set."""
    cells = format_cells(table)
    names, labels = _row_labels(cells)
    header = [*names, *map(str, cells.columns)]
    rows = cells.itertuples(index=False, name=None)
    body = [[*lab, *map(str, row)] for lab, row in zip(labels, rows, strict=True)]

    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |",
             "|" + "|".join([":---"] * len(names) + ["---:"] * len(cells.columns)) + "|"]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in body]
    if table.spec.caption:
        lines = [f"**{table.spec.caption}**", "", *lines]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    text = text.replace("\\", "\0")  # backslash first, restored last (its escape has braces)
    for char in "&%$#_{}":
        text = text.replace(char, "\\" + char)
    text = text.replace("~", r"\textasciitilde{}").replace("^", r"\textasciicircum{}")
    return text.replace("\0", r"\textbackslash{}").replace("±", r"$\pm$")


def to_latex(table: Table) -> str:
    """A booktabs ``tabular`` via ``DataFrame.to_latex`` (cells and labels escaped for LaTeX)."""
    cells = format_cells(table)
    names, labels = _row_labels(cells)
    flat = pd.DataFrame(
        [[*lab, *row] for lab, row in zip(labels, cells.itertuples(index=False, name=None), strict=True)],
        columns=[*names, *map(str, cells.columns)],
    )
    flat = flat.map(_latex_escape)
    flat.columns = [_latex_escape(c) for c in flat.columns]
    return flat.to_latex(
        index=False,
        escape=False,
        column_format="l" * len(names) + "r" * cells.shape[1],
        caption=_latex_escape(table.spec.caption) if table.spec.caption else None,
    )


def to_rich(table: Table, width: int = 80) -> list[RichTable]:
    """The table for the console (rich), caption as title, in tables at most ``width`` wide.

    Headers such as ``pgd_linf_targeted_all/worst_class_accuracy`` are wrapped after their
    separators rather than cut to ``pgd_linf_tar…``; columns that do not fit beside each other
    go into further tables, each repeating the row labels (:func:`robustlens.utils.console_tables.fit_tables`).
    """
    cells = format_cells(table)
    names, labels = _row_labels(cells)
    columns = [Column(name, [lab[i] for lab in labels], label=True, style="bold") for i, name in enumerate(names)]
    columns += [Column(str(col), [str(v) for v in cells[col]], justify="right") for col in cells.columns]
    return fit_tables(columns, width=width, title=table.spec.caption)
