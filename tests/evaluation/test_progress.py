"""Long probes report progress within a batch on Lightning's progress bar; elsewhere the hook is silent."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from robustlens.evaluation.module import EvaluationModule
from robustlens.evaluation.probe import Probe
from robustlens.metrics.base import ProbeOutput
from robustlens.utils.progress import format_progress, progress_reporter, report_progress


def test_the_text_and_the_routing() -> None:
    assert format_progress("restart", 2, 5, remaining=123) == "restart 2/5 · 123 still searching"
    assert format_progress("apgd-t", 3) == "apgd-t 3"
    report_progress("restart", 1, 2)  # outside an evaluation: nothing happens, nothing fails
    seen: list[str] = []
    with progress_reporter(seen.append):
        report_progress("restart", 1, 2, remaining=7)
    report_progress("restart", 2, 2)
    assert seen == ["restart 1/2 · 7 still searching"]


class SearchingProbe(Probe):
    """Reports two restarts per batch and records what the progress bar showed after each."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: list[str] = []
        self.bar = None

    def run(self, model, batch, context) -> ProbeOutput:
        x, y, index = batch
        for r in range(2):
            report_progress("restart", r + 1, 2, remaining=len(y) - r)
            self.shown.append(self.bar())
        return ProbeOutput(index=index, labels=y, preds=model(x).argmax(1))


@pytest.mark.parametrize("bar_class", [TQDMProgressBar, RichProgressBar])
def test_the_evaluation_shows_a_probes_progress_on_the_progress_bar(bar_class: type) -> None:
    probe = SearchingProbe()
    module = EvaluationModule(nn.Linear(4, 3), {"search": probe}, num_classes=3)
    module.probe_name = "search"
    module.progress_interval_s = 0.0  # show every report (a real search is throttled to 5 per second)
    bar = bar_class()
    if isinstance(bar, TQDMProgressBar):
        probe.bar = lambda: bar.test_progress_bar.desc
    else:
        probe.bar = lambda: bar.progress.tasks[bar.test_progress_bar_id].description
    trainer = Trainer(callbacks=[bar], logger=False, enable_model_summary=False, inference_mode=False,
                      accelerator="cpu", devices=1)
    data = TensorDataset(torch.randn(6, 4), torch.tensor([0, 1, 2, 0, 1, 2]), torch.arange(6))
    trainer.test(module, DataLoader(data, batch_size=3), verbose=False)
    assert probe.shown[:2] == ["search: restart 1/2 · 3 still searching", "search: restart 2/2 · 2 still searching"]
    assert len(probe.shown) == 4  # two batches, two restarts each


def test_paper_a_search_reports_its_restarts_and_the_samples_still_searching() -> None:
    from robustlens.attacks.paper_a_search import search

    def never_fooled(points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return -(points**2).sum(dim=1) - 1.0  # L < 0 everywhere: every sample runs every restart

    seen: list[str] = []
    with progress_reporter(seen.append):
        search(never_fooled, torch.zeros(3, 2), rho=1.0, steps=2, rel_step=0.1, restarts=2, check_every=1,
               generator=torch.Generator().manual_seed(0))
    assert seen[0] == "restart 1/2 · 3 still searching"
    assert "restart 2/2 · 3 still searching" in seen
