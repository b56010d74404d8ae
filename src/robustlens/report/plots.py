"""Report plots (matplotlib, Agg backend → PNG). Each plot is a small config-instantiable
object: ``plot(df, out_dir) -> list[Path]``; it raises :class:`PlotSkipped` with the reason
when the results lack what it needs (e.g. ε was not swept), so a report never fails on a plot.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # why: reports run headless (clusters, CI); never open a window
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


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


def _save(fig: plt.Figure, out_dir: str | os.PathLike, name: str) -> Path:
    path = Path(out_dir) / f"{_slug(name)}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@dataclass
class MetricVsParam:
    """``metric`` against a swept parameter ``x`` (ε, ρ), one line per value of ``group``
    (e.g. ``training.mode``); mean over other params/seeds with ±std error bars."""

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
            stats = part.groupby(self.x)["value"].agg(["mean", "std"]).sort_index()
            ax.errorbar(stats.index.astype(float), stats["mean"], yerr=stats["std"].fillna(0), marker="o",
                        capsize=3, label=None if label[0] is None else f"{self.group}={label[0]}")
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
    by: str = "probe"
    probe: str | None = None
    name: str | None = None

    def __call__(self, df: pd.DataFrame, out_dir: str | os.PathLike) -> list[Path]:
        _need(df, [self.by], "classwise_heatmap")
        rows = _metric_rows(df, self.metric, self.probe, overall=False)
        grid = rows.pivot_table(index="class", columns=self.by, values="value", aggfunc="mean")
        fig, ax = plt.subplots(figsize=(1.2 + 0.9 * grid.shape[1], 1 + 0.4 * grid.shape[0]))
        image = ax.imshow(grid.to_numpy(dtype=float), aspect="auto", cmap="viridis")
        ax.set_xticks(range(grid.shape[1]), [str(c) for c in grid.columns], rotation=45, ha="right")
        ax.set_yticks(range(grid.shape[0]), [str(int(c)) for c in grid.index])
        ax.set_xlabel(self.by)
        ax.set_ylabel("class")
        for (r, c), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(v):
                ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w")
        fig.colorbar(image, ax=ax, label=self.metric)
        return [_save(fig, out_dir, self.name or f"{self.metric}_by_{self.by}")]


@dataclass
class RobustVsConventional:
    """Bars of several metric keys side by side (e.g. ``clean/accuracy``, ``pgd/accuracy``,
    ``latent/laga``), one bar group per value of ``group`` (e.g. ``training.mode``)."""

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
        stats = overall.assign(_g=group).pivot_table(index="_g", columns="key", values="value",
                                                     aggfunc=["mean", "std"])
        keys = [k for k in self.keys if k in stats["mean"].columns]
        fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(stats), 3.5))
        width = 0.8 / len(keys)
        pos = np.arange(len(stats))
        for i, key in enumerate(keys):
            ax.bar(pos + i * width, stats["mean"][key], width, label=key,
                   yerr=stats["std"][key].fillna(0) if key in stats["std"] else None, capsize=3)
        ax.set_xticks(pos + width * (len(keys) - 1) / 2, list(stats.index))
        ax.set_xlabel(self.group or "")
        ax.legend(fontsize=8)
        return [_save(fig, out_dir, self.name or f"robust_vs_conventional_{self.group or 'all'}")]
