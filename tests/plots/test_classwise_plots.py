"""Every class-wise figure builder renders a PNG of the expected pixel size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from robustlens.plots import (
    classwise_accuracy_bars,
    confusion_heatmap,
    embedding_scatter,
    false_score_bars,
    save_figure,
    targeted_success_heatmap,
)

NAMES = ["plane", "car", "bird", "cat"]


def check_png(fig, path: Path, dpi: int = 50) -> np.ndarray:
    save_figure(fig, path, dpi=dpi)
    assert path.is_file() and path.stat().st_size > 1000
    image = imread(path)
    width, height = fig.get_size_inches() * dpi
    assert image.shape[:2] == (round(height), round(width))
    assert image[..., :3].std() > 0.01, "the figure is blank"
    return image


def test_confusion_heatmap_counts_and_normalised(tmp_path: Path):
    counts = torch.tensor([[5, 1, 0, 0], [0, 6, 0, 0], [2, 0, 3, 1], [0, 0, 0, 0]])  # class 3: no samples
    fig = confusion_heatmap(counts, NAMES)
    assert len(fig.axes) == 4  # two heatmaps and their colour bars
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == NAMES
    check_png(fig, tmp_path / "confusion.png")


def test_bars_and_targeted_heatmap(tmp_path: Path):
    check_png(false_score_bars([0.5, 0.25, 0.25, 0.0], [0.5, 0.0, 0.5, 0.0], NAMES), tmp_path / "fps.png")
    acc = {"clean": [0.9, 0.95, 0.7, float("nan")], "pgd": np.array([0.5, 0.6, 0.2, 0.1])}
    check_png(classwise_accuracy_bars(acc, NAMES), tmp_path / "acc.png")
    matrix = np.full((4, 4), 0.3)
    np.fill_diagonal(matrix, np.nan)
    check_png(targeted_success_heatmap(matrix, NAMES), tmp_path / "targeted.png")


def test_embedding_scatter_side_by_side(tmp_path: Path):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 40)
    fig = embedding_scatter(rng.normal(size=(40, 2)), rng.normal(size=(40, 2)), labels, NAMES)
    assert fig.axes[0].get_title().endswith("clean") and fig.axes[1].get_title().endswith("attacked")
    check_png(fig, tmp_path / "embedding.png")


def test_bad_inputs_name_the_fix():
    with pytest.raises(ValueError, match="one name per class"):
        confusion_heatmap(np.eye(3), NAMES)
    with pytest.raises(ValueError, match="same length"):
        false_score_bars([0.5, 0.5], [1.0], None)
    with pytest.raises(ValueError, match="2-dimensional"):
        targeted_success_heatmap([0.1, 0.2])
    with pytest.raises(ValueError, match="one value per class"):
        classwise_accuracy_bars({"a": [1, 0], "b": [1, 0, 1]})
