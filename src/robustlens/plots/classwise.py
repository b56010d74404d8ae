"""Figures for Paper B's class-wise analysis: confusion and targeted-success heatmaps,
CFPS/CFNS and class-wise accuracy bars, clean-vs-attacked embedding scatter.

Why ``Figure`` + ``FigureCanvasAgg`` instead of ``pyplot``: builders are called from
callbacks in worker processes and threads; pyplot keeps global state and picks a GUI
backend, the Agg canvas needs neither. Every builder returns the figure; callers save it
with :func:`save_figure` (or log it). NaN cells (classes without samples) are left blank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ArrayLike = Any  # numpy array, torch tensor or nested lists


def _array(values: ArrayLike, name: str, ndim: int) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    return arr


def class_labels(class_names: Sequence[str] | None, k: int) -> list[str]:
    """Names for K classes: ``class_names`` (checked) or ``"0" .. "K-1"``."""
    if class_names is None:
        return [str(i) for i in range(k)]
    names = [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"got {len(names)} class names for {k} classes; pass one name per class")
    return names


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _heatmap(
    ax, matrix: np.ndarray, names: list[str], title: str, fmt: str, xlabel: str, ylabel: str, vmax=None
):
    image = ax.imshow(np.ma.masked_invalid(matrix), cmap="viridis", vmin=0, vmax=vmax)
    k = len(names)
    ax.set_xticks(range(k), names, rotation=45, ha="right")
    ax.set_yticks(range(k), names)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if k <= 20:  # annotations stay readable up to ~20 classes
        top = np.nanmax(matrix) if np.isfinite(matrix).any() else 0.0
        for (i, j), value in np.ndenumerate(matrix):
            if np.isfinite(value):
                color = "black" if top and value > 0.6 * top else "white"
                ax.text(j, i, format(value, fmt), ha="center", va="center", fontsize=7, color=color)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)


def confusion_heatmap(
    counts: ArrayLike,
    class_names: Sequence[str] | None = None,
    normalized: ArrayLike | None = None,
    title: str = "confusion",
) -> Figure:
    """Counts and row-normalised confusion side by side (rows: true class, columns: predicted)."""
    counts_arr = _array(counts, "counts", 2)
    k = counts_arr.shape[0]
    names = class_labels(class_names, k)
    if normalized is None:
        rows = counts_arr.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            norm_arr = np.where(rows > 0, counts_arr / np.where(rows > 0, rows, 1), np.nan)
    else:
        norm_arr = _array(normalized, "normalized", 2)
    size = max(4.0, 0.45 * k + 2)
    fig = _new_figure(2 * size + 1, size)
    ax_counts, ax_norm = fig.subplots(1, 2)
    _heatmap(ax_counts, counts_arr, names, f"{title} (counts)", ".0f", "predicted", "true")
    _heatmap(ax_norm, norm_arr, names, f"{title} (row-normalised)", ".2f", "predicted", "true", vmax=1.0)
    return fig


def targeted_success_heatmap(
    matrix: ArrayLike, class_names: Sequence[str] | None = None, title: str = "targeted success"
) -> Figure:
    """``S[a, t]``: share of class-a samples a targeted attack pushes to t (diagonal blank)."""
    arr = _array(matrix, "matrix", 2)
    names = class_labels(class_names, arr.shape[0])
    size = max(4.0, 0.45 * len(names) + 2)
    fig = _new_figure(size + 1, size)
    _heatmap(fig.subplots(), arr, names, title, ".2f", "target class", "true class", vmax=1.0)
    return fig


def _grouped_bars(ax, series: Mapping[str, np.ndarray], names: list[str]) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(names))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, np.nan_to_num(values, nan=0.0), width, label=label)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.legend(fontsize=8)


def false_score_bars(
    cfps: ArrayLike, cfns: ArrayLike, class_names: Sequence[str] | None = None, title: str = "CFPS / CFNS"
) -> Figure:
    """CFPS (share of errors landing in a class) beside CFNS (share of errors from it)."""
    fps, fns = _array(cfps, "cfps", 1), _array(cfns, "cfns", 1)
    if fps.shape != fns.shape:
        raise ValueError(f"cfps and cfns must have the same length, got {fps.shape} and {fns.shape}")
    names = class_labels(class_names, fps.shape[0])
    fig = _new_figure(max(5.0, 0.6 * len(names) + 2), 4)
    ax = fig.subplots()
    _grouped_bars(ax, {"CFPS (errors into class)": fps, "CFNS (errors from class)": fns}, names)
    ax.set_ylabel("share of all errors")
    ax.set_title(title)
    return fig


def classwise_accuracy_bars(
    accuracies: Mapping[str, ArrayLike],
    class_names: Sequence[str] | None = None,
    title: str = "class-wise accuracy",
) -> Figure:
    """Class-wise accuracy of several probes (clean, attacks, corruptions) side by side."""
    if not accuracies:
        raise ValueError("accuracies is empty: pass {probe name: per-class accuracy vector}")
    series = {name: _array(values, f"accuracies[{name!r}]", 1) for name, values in accuracies.items()}
    lengths = {v.shape[0] for v in series.values()}
    if len(lengths) != 1:
        raise ValueError(f"every probe needs one value per class, got lengths {sorted(lengths)}")
    names = class_labels(class_names, lengths.pop())
    fig = _new_figure(max(5.0, 0.35 * len(names) * len(series) + 2), 4)
    ax = fig.subplots()
    _grouped_bars(ax, series, names)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    return fig


def embedding_scatter(
    clean: ArrayLike,
    attacked: ArrayLike,
    labels: ArrayLike,
    class_names: Sequence[str] | None = None,
    attacked_labels: ArrayLike | None = None,
    title: str = "penultimate-layer embedding",
) -> Figure:
    """2-D embeddings of clean and attacked features side by side, same axes, coloured by true class."""
    clean_arr, attacked_arr = _array(clean, "clean", 2), _array(attacked, "attacked", 2)
    labels_arr = np.asarray(labels).astype(int).reshape(-1)
    att_labels = (
        labels_arr if attacked_labels is None else np.asarray(attacked_labels).astype(int).reshape(-1)
    )
    if len(labels_arr) != len(clean_arr) or len(att_labels) != len(attacked_arr):
        raise ValueError("one label per embedded point is needed (pass attacked_labels if the sets differ)")
    k = int(max(labels_arr.max(initial=-1), att_labels.max(initial=-1))) + 1
    names = class_labels(class_names, len(class_names) if class_names is not None else k)
    fig = _new_figure(11, 5)
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    palette = colormaps["tab10" if len(names) <= 10 else "tab20"]
    for ax, coords, lab, panel in (
        (axes[0], clean_arr, labels_arr, "clean"),
        (axes[1], attacked_arr, att_labels, "attacked"),
    ):
        for c, name in enumerate(names):  # one colour per class, so the legend is discrete
            mask = lab == c
            if mask.any():
                ax.scatter(coords[mask, 0], coords[mask, 1], s=8, color=palette(c % palette.N), label=name)
        ax.set_title(f"{title}: {panel}")
    handles, legend_names = axes[0].get_legend_handles_labels()
    for handle, name in zip(*axes[1].get_legend_handles_labels(), strict=True):
        if name not in legend_names:
            handles.append(handle)
            legend_names.append(name)
    fig.legend(handles, legend_names, loc="outside right center", fontsize=8, markerscale=2)
    return fig


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` as PNG (parents created) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path
