"""Figures of Paper A's latent probes: the image grid of a search (original / reconstructed /
decayed / adversarial / difference) and the densities of the perturbation statistics.

Like :mod:`robustlens.plots.classwise`, builders use ``Figure`` + the Agg canvas (no pyplot
state) because they run inside Lightning callbacks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid

#: row order of the grid; kinds a probe did not produce are left out
GRID_ROWS = ("original", "reconstructed", "decayed", "adversarial", "difference")


def latent_image_grid(images: Mapping[str, Tensor], padding: int = 2) -> tuple[Tensor, list[str]]:
    """One ``[C, H, W]`` image: a row per kind (in :data:`GRID_ROWS` order), a column per sample.

    Returns the grid and the row names. Why one image: the columns line up, so a reader sees
    the same sample's original, decayed and adversarial versions under each other.
    """
    rows = [k for k in GRID_ROWS if k in images] + [k for k in images if k not in GRID_ROWS]
    if not rows:
        raise ValueError("no images to arrange")
    n = min(int(images[k].shape[0]) for k in rows)
    if n == 0:
        raise ValueError("the image batches are empty")
    stacked = torch.cat([images[k][:n].detach().float().cpu().clamp(0, 1) for k in rows])
    return make_grid(stacked, nrow=n, padding=padding, pad_value=1.0), rows


def latent_grid_figure(images: Mapping[str, Tensor], title: str = "") -> Figure:
    """The grid of :func:`latent_image_grid` with its rows labelled."""
    grid, rows = latent_image_grid(images)
    array = grid.permute(1, 2, 0).numpy()
    height, width = array.shape[:2]
    fig = Figure(figsize=(1.2 + width / 40, 0.4 + height / 40))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(array[..., 0] if array.shape[2] == 1 else array, cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([(i + 0.5) * height / len(rows) for i in range(len(rows))], rows)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def statistic_densities_figure(
    table: pd.DataFrame, columns: Sequence[str], only_successful: bool = True, title: str = "", bins: int = 30
) -> Figure:
    """Histogram densities of per-sample statistics (one panel each) with mean and median marked.

    ``only_successful`` keeps the samples whose search found an adversarial point (column
    ``success``), as the statistics metric does: a failed search's final perturbation is not a
    minimal adversarial one.
    """
    present = [c for c in columns if c in table.columns]
    if not present:
        raise ValueError(f"none of {list(columns)} in the table (columns: {list(table.columns)})")
    rows = table[table["success"].astype(bool)] if only_successful and "success" in table.columns else table
    fig = Figure(figsize=(3.0 * len(present), 2.6))
    FigureCanvasAgg(fig)
    for i, column in enumerate(present):
        ax = fig.add_subplot(1, len(present), i + 1)
        values = rows[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            ax.hist(values, bins=bins, density=True, color="tab:blue", alpha=0.7)
            ax.axvline(values.mean(), color="k", lw=1, label=f"mean {values.mean():.3g}")
            ax.axvline(np.median(values), color="k", lw=1, ls="--", label=f"median {np.median(values):.3g}")
            ax.legend(fontsize=7)
        ax.set_xlabel(column)
        ax.set_ylabel("density" if i == 0 else "")
    if title:
        fig.suptitle(f"{title} (n = {len(rows)})", fontsize=9)
    fig.tight_layout()
    return fig
