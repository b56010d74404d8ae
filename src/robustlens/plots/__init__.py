"""Matplotlib figure builders for robustlens reports (Agg canvas, no pyplot global state)."""

from robustlens.plots.classwise import (
    classwise_accuracy_bars,
    confusion_heatmap,
    embedding_scatter,
    false_score_bars,
    save_figure,
    targeted_success_heatmap,
)

__all__ = [
    "classwise_accuracy_bars",
    "confusion_heatmap",
    "embedding_scatter",
    "false_score_bars",
    "save_figure",
    "targeted_success_heatmap",
]
