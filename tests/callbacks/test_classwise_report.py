"""The class-wise report callback writes its CSV/PNG files and logs to a real offline W&B run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch import LightningModule, Trainer

from robustlens.callbacks.classwise_report import ClasswiseReportCallback, parse_results
from robustlens.evaluation.result import EvaluationResult
from robustlens.metrics.accuracy import ClasswiseAccuracy
from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.classwise import ClassFalseScores, ConfusionMatrix, ErrorFlow, TargetedSuccessMatrix
from tests.wandb_utils import offline_wandb_media

NAMES = ["zero", "one", "two"]
LABELS = torch.tensor([0, 0, 1, 1, 2, 2])
PREDS = {"clean": torch.tensor([0, 0, 1, 1, 2, 1]), "pgd": torch.tensor([2, 0, 2, 1, 2, 0])}


def flat_results() -> dict:
    """Metrics as the evaluation flattens them: floats and (nested) lists."""
    results = {}
    for probe, preds in PREDS.items():
        out = ProbeOutput(
            index=torch.arange(6),
            labels=LABELS,
            preds=preds,
            values={"targeted_success": torch.ones(6, 3, dtype=torch.bool)},
        )
        for metric in (ClasswiseAccuracy(3), ConfusionMatrix(3), ClassFalseScores(3), ErrorFlow(3)):
            metric.update(out)
            for key, value in metric.compute().items():
                results[f"{probe}/{key}"] = value.item() if value.ndim == 0 else value.tolist()
        if probe == "pgd":
            metric = TargetedSuccessMatrix(3)
            metric.update(out)
            results["pgd/targeted_success"] = metric.compute()["targeted_success"].tolist()
    return results


class TinyModule(LightningModule):
    """A module with one test batch: the trainer attaches its loggers, then the callback reports."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def test_step(self, batch, batch_idx):
        return None

    def test_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(2, 1)), batch_size=2)


def evaluation_result(output_dir: Path) -> EvaluationResult:
    """The result the evaluate task hands the callback: metrics, embeddings, per-sample predictions."""
    rng = np.random.default_rng(0)
    clean, attacked = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    per_sample = pd.DataFrame(
        {"index": range(6), "label": LABELS.numpy(), "clean/pred": PREDS["clean"], "pgd/pred": PREDS["pgd"]}
    )
    return EvaluationResult(
        metrics=flat_results(), per_sample=per_sample, class_names=NAMES, output_dir=output_dir,
        probes=["clean", "pgd"], embeddings={"pgd": {"clean": clean, "attacked": attacked, "labels": LABELS.numpy()}},
    )


def run_test(tmp_path: Path, logger) -> ClasswiseReportCallback:
    callback = ClasswiseReportCallback(dpi=40)
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        logger=logger,
        callbacks=[callback],
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    module = TinyModule()
    trainer.test(module, verbose=False)
    assert callback.written == []  # a test pass alone reports nothing: the evaluation is not finished
    callback.on_evaluation_end(trainer, module, evaluation_result(tmp_path / "job"))
    return callback


def test_callback_writes_csv_and_png_without_wandb(tmp_path: Path):
    callback = run_test(tmp_path, logger=False)
    out = tmp_path / "job" / "classwise"
    table = pd.read_csv(out / "per_class.csv")
    assert table["class_name"].tolist() == NAMES
    # clean: class 2 has one of two right; pgd: every class one of two (errors 0->2, 1->2, 2->0)
    assert table["clean/classwise_accuracy"].tolist() == pytest.approx([1.0, 1.0, 0.5])
    assert table["pgd/classwise_accuracy"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    # pgd errors land in class 2 twice and in class 0 once
    assert table["pgd/cfps"].tolist() == pytest.approx([1 / 3, 0.0, 2 / 3])
    confusion = pd.read_csv(out / "pgd__confusion.csv", index_col=0)
    assert confusion.loc["zero"].tolist() == [1, 0, 1] and list(confusion.columns) == NAMES
    flow = pd.read_csv(out / "pgd__error_flow.csv")
    assert flow[["source", "target", "count"]].values.tolist() == [[0, 2, 1], [1, 2, 1], [2, 0, 1]]
    assert len(callback.written) == len(set(callback.written)), "a file was written twice"
    for name in [
        "pgd__confusion.png",
        "pgd__false_scores.png",
        "pgd__targeted_success.png",
        "pgd__embedding.png",
        "clean__confusion.png",
        "classwise_accuracy.png",
    ]:
        assert (out / name).stat().st_size > 1000, name
    assert set(callback.written) >= {out / "per_class.csv", out / "classwise_accuracy.png"}


def test_parse_results_rebuilds_vectors_from_class_keys():
    report = parse_results(
        {
            "clean/accuracy": 0.5,
            "clean/classwise_accuracy/0": 1.0,
            "clean/classwise_accuracy/2": 0.0,
            "pgd/confusion": [[1, 0], [0, 1]],
        }
    )
    assert report["clean"]["accuracy"] == 0.5
    np.testing.assert_array_equal(report["clean"]["classwise_accuracy"], [1.0, np.nan, 0.0])
    assert report["pgd"]["confusion"].shape == (2, 2)


def test_callback_logs_to_offline_wandb_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    media = offline_wandb_media(tmp_path, monkeypatch, lambda logger: run_test(tmp_path, logger=logger))
    tables = sorted(media.glob("table/**/*.table.json"))
    per_class = [t for t in tables if "per_class" in t.name]
    assert per_class, f"no per-class table in {tables}"
    content = json.loads(per_class[0].read_text())
    assert "pgd/cfps" in content["columns"] and [row[1] for row in content["data"]] == NAMES
    images = sorted(p.name for p in media.glob("images/**/*.png"))
    assert any("pgd__confusion" in name for name in images), images
    assert any("classwise_accuracy" in name for name in images), images
    # the bar and confusion charts store their data as tables too
    assert any("cfps_bar" in t.name for t in tables), [t.name for t in tables]
    assert any("confusion_chart" in t.name for t in tables), [t.name for t in tables]


def test_parse_results_keeps_interval_bounds_with_their_probe():
    """``<probe>/<metric>/ci_low[/<class>]`` belong to the probe, beside the value they bound."""
    report = parse_results({
        "clean/accuracy": 0.5, "clean/accuracy/ci_low": 0.3, "clean/accuracy/ci_high": 0.7,
        "clean/classwise_accuracy/0": 1.0, "clean/classwise_accuracy/ci_low/0": 0.6,
        "clean/classwise_accuracy/ci_high/0": 1.0,
    })
    assert set(report) == {"clean"}
    assert report["clean"]["accuracy/ci_low"] == 0.3 and report["clean"]["accuracy/ci_high"] == 0.7
    np.testing.assert_array_equal(report["clean"]["classwise_accuracy/ci_low"], [0.6])
    np.testing.assert_array_equal(report["clean"]["classwise_accuracy"], [1.0])
