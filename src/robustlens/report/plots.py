"""Report plots (matplotlib, Agg backend → PNG). Each plot is a small config-instantiable
object: ``plot(df, out_dir) -> list[Path]``; it raises :class:`PlotSkipped` with the reason
when the results lack what it needs (e.g. ε was not swept), so a report never fails on a plot.
Plots of matrix metrics (confusion matrices are not in the tidy frame) set
``needs_records = True`` and are also given the gathered job records: ``plot(df, out_dir, records=...)``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import matplotlib

matplotlib.use("Agg")  # why: reports run headless (clusters, CI); never open a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from robustlens.report.collect import JobRecord, matrices


class PlotSkipped(Exception):
    """The plot does not apply to these results (the message says why)."""


def _need(df: pd.DataFrame, columns: list[str], plot: str) -> None:
    missing = [c for c in columns if c and c not in df.columns]
    if missing:
        raise PlotSkipped(f"{plot}: parameters {missing} are not in the results (not swept)")


def _metric_rows(df: pd.DataFrame, metric: str, probe: str | None, overall: bool = True) -> pd.DataFrame:
    rows = df[df["metric"] == metric]
    if probe is not None:
        rows = rows[rows["probe"] == probe]
    rows = rows[rows["class"].isna()] if overall else rows[rows["class"].notna()]
    if rows.empty:
        raise PlotSkipped(f"no {'overall' if overall else 'class-wise'} values of metric {metric!r}"
                          + (f" for probe {probe!r}" if probe else ""))
    return rows


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")


def _save(fig: plt.Figure, out_dir: str | os.PathLike, name: str, tight: bool = True, dpi: int = 120) -> Path:
    """Write ``fig`` as ``<out_dir>/<name>.png`` and close it (``tight=False`` for a colorbar shared by all axes,
    which ``tight_layout`` cannot place)."""
    path = Path(out_dir) / f"{_slug(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _mean_and_error(frame: pd.DataFrame, by: list[str] | str) -> pd.DataFrame:
    """Per group of ``by``: ``mean`` of the values and the error bar's ``lower``/``upper`` lengths:
    the confidence interval stored with a value (``ci_low``/``ci_high``) where the group is one
    job, else ± the std over the group's jobs (seeds)."""
    grouped = frame.groupby(by, dropna=False, sort=True)
    stats = grouped["value"].agg(["mean", "std", "count"])
    spread = stats["std"].fillna(0)
    stats["lower"], stats["upper"] = spread, spread
    if {"ci_low", "ci_high"} <= set(frame.columns):
        low, high = grouped["ci_low"].first(), grouped["ci_high"].first()
        one = (stats["count"] == 1) & low.notna() & high.notna()
        stats.loc[one, "lower"] = (stats["mean"] - low)[one].clip(lower=0)
        stats.loc[one, "upper"] = (high - stats["mean"])[one].clip(lower=0)
    return stats[["mean", "lower", "upper"]]


@dataclass
class MetricVsParam:
    """``metric`` against a swept parameter ``x`` (ε, ρ), one line per value of ``group``
    (e.g. ``training.mode``); mean over other params/seeds with ±std error bars, or the value's
    confidence interval where a point is one job."""

    x: str
    metric: str = "accuracy"
    probe: str | None = None
    group: str | None = None
    name: str | None = None

    def __call__(self, df: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
        _need(df, [self.x, self.group or ""], "metric_vs_param")
        rows = _metric_rows(df, self.metric, self.probe)
        keys = [self.group] if self.group else []
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for label, part in rows.groupby(keys, dropna=False) if keys else [((None,), rows)]:
            stats = _mean_and_error(part, self.x).sort_index()
            ax.errorbar(stats.index.astype(float), stats["mean"], yerr=stats[["lower", "upper"]].to_numpy().T,
                        marker="o", capsize=3, label=None if label[0] is None else f"{self.group}={label[0]}")
        ax.set_xlabel(self.x)
        ax.set_ylabel(f"{self.probe + '/' if self.probe else ''}{self.metric}")
        if self.group:
            ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        return [_save(fig, out_dir, self.name or f"{self.probe or 'all'}_{self.metric}_vs_{self.x}")]


@dataclass
class ClasswiseHeatmap:
    """Class × (probe or a parameter) heatmap of a class-wise metric, mean over everything else."""

    metric: str = "classwise_accuracy"
    #: one column (``probe`` or a parameter) or several, joined into one label (``mnist/small_cnn/standard``)
    by: str | list[str] = "probe"
    probe: str | None = None
    name: str | None = None

    def __call__(self, df: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
        by = [self.by] if isinstance(self.by, str) else list(self.by)
        _need(df, by, "classwise_heatmap")
        rows = _metric_rows(df, self.metric, self.probe, overall=False)
        rows = rows.assign(_by=rows[by].astype(str).agg("/".join, axis=1))
        grid = rows.pivot_table(index="class", columns="_by", values="value", aggfunc="mean")
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * grid.shape[1], 1 + 0.4 * grid.shape[0]))
        image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=45, ha="right")
        ax.set_yticks(range(grid.shape[0]), [str(int(c)) for c in grid.index])
        ax.set_xlabel("/".join(by))
        ax.set_ylabel("class")
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(image, ax=ax, label=f"{self.probe + '/' if self.probe else ''}{self.metric}")
        return [_save(fig, out_dir, self.name or f"{self.metric}_by_{'_'.join(by)}")]


@dataclass
class ConfusionGrid:
    """One probe's confusion matrices side by side: a panel per job, panel rows by ``rows``
    parameters (e.g. data, classifier), panel columns by ``columns`` (e.g. training).

    Why a grid: Paper B's confusion-structure question is comparative (where do the errors of
    the same class go under standard vs adversarial training?), which one heatmap per job dir
    does not show. Jobs that share a panel (e.g. seeds) are averaged.
    """

    probe: str = "clean"
    metric: str = "confusion_normalized"
    rows: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=lambda: ["training"])
    name: str | None = None
    needs_records: ClassVar[bool] = True

    def panels(self, records: list[JobRecord]) -> dict[tuple[str, str], np.ndarray]:
        """``{(row label, column label): matrix}`` in the sweep's job order (shared panels averaged)."""
        key = f"{self.probe}/{self.metric}"
        found = {job: m for (job, k), m in matrices(records).items() if k == key and m.ndim == 2}
        if not found:
            raise PlotSkipped(f"confusion_grid: no complete job has the matrix {key!r}")
        params = {r.job: r.params for r in records}
        wanted = [*self.rows, *self.columns]
        missing = sorted({p for job in found for p in wanted if p not in params.get(job, {})})
        if missing:
            raise PlotSkipped(f"confusion_grid: parameters {missing} are not in the results (not swept)")
        cells: dict[tuple[str, str], list[np.ndarray]] = {}
        for job, matrix in found.items():
            row = "/".join(str(params[job][p]) for p in self.rows)
            column = "/".join(str(params[job][p]) for p in self.columns)
            cells.setdefault((row, column), []).append(matrix)
        return {label: np.mean(group, axis=0) for label, group in cells.items()}

    def __call__(
        self, df: pd.DataFrame, out_dir: str | os.PathLike, records: list[JobRecord] | None = None
    ) -> list[Path]:
        key = f"{self.probe}/{self.metric}"
        cells = self.panels(records or [])
        row_labels = list(dict.fromkeys(r for r, _ in cells))
        col_labels = list(dict.fromkeys(c for _, c in cells))
        fig, axes = plt.subplots(
            len(row_labels), len(col_labels), figsize=(0.6 + 2.3 * len(col_labels), 0.4 + 2.3 * len(row_labels)),
            squeeze=False,
        )
        image = None
        for (i, r), (j, c) in ((a, b) for a in enumerate(row_labels) for b in enumerate(col_labels)):
            ax = axes[i][j]
            ax.set_xticks([])
            ax.set_yticks([])
            if (r, c) not in cells:
                ax.axis("off")
                continue
            matrix = cells[(r, c)]
            image = ax.imshow(matrix, vmin=0.0, vmax=max(1.0, float(np.nanmax(matrix))), cmap="Blues")
            if i == 0:
                ax.set_title(c, fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{r}\ntrue class" if r else "true class", fontsize=8)
            if i == len(row_labels) - 1:
                ax.set_xlabel("predicted class", fontsize=8)
        if image is not None:
            fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6, label=key)
        return [_save(fig, out_dir, self.name or f"{self.probe}_{self.metric}_grid", tight=False, dpi=110)]


@dataclass
class RobustVsConventional:
    """Bars of several metric keys side by side (e.g. ``clean/accuracy``, ``pgd/accuracy``,
    ``latent/laga``), one bar group per value of ``group`` (e.g. ``training.mode``); error bars:
    ±std over a group's jobs, or a single job's confidence interval."""

    keys: list[str] = field(default_factory=lambda: ["clean/accuracy", "worst_case/accuracy"])
    group: str | None = None
    name: str | None = None

    def __call__(self, df: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
        _need(df, [self.group or ""], "robust_vs_conventional")
        overall = df[df["class"].isna()].assign(key=lambda d: d["probe"] + "/" + d["metric"])
        overall = overall[overall["key"].isin(self.keys)]
        if overall.empty:
            raise PlotSkipped(f"robust_vs_conventional: none of {self.keys} in the results")
        group = overall[self.group].astype(str) if self.group else pd.Series("all", index=overall.index)
        # groupby keeps the all-NaN std of single-job groups (pivot_table drops those columns)
        stats = _mean_and_error(overall.assign(_g=group), ["_g", "key"]).unstack("key")
        keys = [k for k in self.keys if k in stats["mean"].columns]
        fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(stats), 3.5))
        width = 0.8 / len(keys)
        pos = np.arange(len(stats))
        for i, key in enumerate(keys):
            yerr = np.vstack([stats["lower"][key].fillna(0), stats["upper"][key].fillna(0)])
            ax.bar(pos + i * width, stats["mean"][key], width, label=key, yerr=yerr, capsize=3)
        ax.set_xticks(pos + width * (len(keys) - 1) / 2, list(stats.index))
        ax.set_xlabel(self.group or "")
        ax.legend(fontsize=8)
        return [_save(fig, out_dir, self.name or f"robust_vs_conventional_{self.group or 'all'}")]
