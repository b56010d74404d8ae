"""Latent probe figures: grid layout, statistic densities, and the callback's files and W&B images."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch
from lightning.pytorch import Trainer
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from robustlens.callbacks.latent_report import LatentReportCallback
from robustlens.evaluation.latent_probes import LatentAdversarialProbe
from robustlens.evaluation.module import EvaluationModule
from robustlens.evaluation.result import EvaluationResult, merge_probe_tables
from robustlens.plots.latent import latent_image_grid, statistic_densities_figure
from tests.wandb_utils import offline_wandb_media

from .helpers import LinearGenerator, nearest_offset_classifier


def test_grid_has_a_row_per_kind_in_fixed_order_and_a_column_per_sample():
    images = {
        "adversarial": torch.full((5, 1, 4, 4), 0.75),
        "original": torch.zeros(4, 1, 4, 4),  # fewer samples: every row is cut to the shortest
        "decayed": torch.ones(5, 1, 4, 4),
    }
    grid, rows = latent_image_grid(images, padding=2)
    assert rows == ["original", "decayed", "adversarial"]
    assert tuple(grid.shape) == (3, 2 + 3 * (4 + 2), 2 + 4 * (4 + 2))
    # the first cell of each row holds that kind's pixels
    assert grid[0, 2, 2].item() == 0.0 and grid[0, 8, 2].item() == 1.0 and grid[0, 14, 2].item() == 0.75
    with pytest.raises(ValueError, match="no images"):
        latent_image_grid({})


def test_densities_use_only_successful_searches():
    table = pd.DataFrame({"success": [True, True, False], "latent_norm": [0.1, 0.3, 2.5]})
    fig = statistic_densities_figure(table, ["latent_norm", "image_l1"], title="lags")
    assert fig._suptitle.get_text() == "lags (n = 2)"
    ax = fig.axes[0]
    assert ax.get_xlabel() == "latent_norm" and len(fig.axes) == 1  # image_l1 is not in the table
    assert "mean 0.2" in ax.get_legend().get_texts()[0].get_text()  # the failed search's 2.5 is left out
    with pytest.raises(ValueError, match="none of"):
        statistic_densities_figure(table, ["image_l2s"])


def _evaluate_lags(tmp_path: Path, logger=False) -> tuple[LatentReportCallback, Path, EvaluationResult]:
    gen = LinearGenerator(num_classes=3, dtype=torch.float32)
    model = nearest_offset_classifier(gen)
    y = torch.arange(12) % 3
    with torch.no_grad():
        x = gen.decode(torch.zeros(12, gen.latent_dim), y).clamp(0, 1)
    probe = LatentAdversarialProbe("generation", "min", rho=2.5, steps=10, restarts=2, max_images=4)
    module = EvaluationModule(model, {"lags": probe}, generator=gen, num_classes=3)
    module.probe_name = "lags"
    callback = LatentReportCallback()
    trainer = Trainer(
        default_root_dir=tmp_path, callbacks=[callback], logger=logger, enable_progress_bar=False,
        enable_model_summary=False, inference_mode=False,
    )
    trainer.test(module, DataLoader(TensorDataset(x, y, torch.arange(12)), batch_size=6), verbose=False)
    assert callback.written == []  # a pass alone reports nothing: the evaluation reports at its end
    result = EvaluationResult(
        metrics=module.last_pass.metrics, per_sample=merge_probe_tables({"lags": module.last_pass.table}),
        class_names=["0", "1", "2"], output_dir=tmp_path, probes=["lags"], images={"lags": module.last_pass.images},
    )
    callback.on_evaluation_end(trainer, module, result)
    return callback, tmp_path / "latent", result


def test_callback_writes_the_grid_and_densities_of_a_latent_probe(tmp_path: Path):
    callback, out, result = _evaluate_lags(tmp_path)
    assert sorted(p.name for p in callback.written) == ["lags__densities.png", "lags__grid.png"]
    images = result.images["lags"]
    grid, rows = latent_image_grid(images, padding=2)
    assert rows == ["original", "decayed", "adversarial", "difference"]  # every kind, in the fixed order
    assert {name: len(batch) for name, batch in images.items()} == dict.fromkeys(rows, 4)  # max_images=4
    h, w = images["original"].shape[-2:]
    assert tuple(grid.shape[-2:]) == (2 + 4 * (h + 2), 2 + 4 * (w + 2))  # 4 rows, 4 sample columns
    png = Image.open(out / "lags__grid.png")
    assert png.size[0] > 100 and png.size[1] > 100


def test_callback_logs_the_figures_to_an_offline_wandb_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    media = offline_wandb_media(tmp_path, monkeypatch, lambda logger: _evaluate_lags(tmp_path, logger=logger))
    images = sorted(p.name for p in media.glob("images/**/*.png"))
    assert any("grid" in name for name in images), images
    assert any("densities" in name for name in images), images
