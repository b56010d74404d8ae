"""Adversarial training modes: the ε warm-up bounds the inner attack, and the module feeds it the step."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from robustlens.models.classifier_module import ClassifierModule
from robustlens.training.modes import TRADES, PGDAdversarial, Standard, warmup_factor


class InputRecorder(nn.Module):
    """A linear classifier that remembers the last batch it was called on (the adversarial one)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(16, 3)
        self.last_input: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        self.last_input = x.detach().clone()
        return self.linear(x.flatten(1))


def test_warmup_factor_ramps_linearly_then_stays_at_one() -> None:
    assert [warmup_factor(s, 4) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert warmup_factor(0, 0) == 1.0  # no warm-up: the full ε from the first step


@pytest.mark.parametrize("mode_cls", [PGDAdversarial, TRADES], ids=["pgd_at", "trades"])
@pytest.mark.parametrize("step", [0, 4, 9, 50])
def test_inner_attack_uses_the_warmed_up_budget(mode_cls: type, step: int) -> None:
    eps, warmup = 0.2, 10
    mode = mode_cls(eps=eps, step_size=eps / 4, steps=10, eps_warmup_steps=warmup)
    model = InputRecorder()
    x = torch.full((8, 1, 4, 4), 0.5)  # mid-range: the [0,1] clip never binds
    y = torch.arange(8) % 3
    mode.loss(model, x, y, step=step)
    budget = eps * warmup_factor(step, warmup)
    reached = (model.last_input - x).abs().amax().item()
    assert reached <= budget + 1e-6
    # a linear model's sign gradient is constant, so 10 steps of budget/4 reach the boundary
    assert reached == pytest.approx(budget, rel=1e-4)


def test_without_warmup_the_step_argument_changes_nothing() -> None:
    mode = PGDAdversarial(eps=0.2, step_size=0.05, steps=10)
    model = InputRecorder()
    x, y = torch.full((8, 1, 4, 4), 0.5), torch.arange(8) % 3
    mode.loss(model, x, y, step=0)
    assert (model.last_input - x).abs().amax().item() == pytest.approx(0.2, rel=1e-4)


class StepRecordingMode(Standard):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def loss(self, model: nn.Module, x: Tensor, y: Tensor, step: int = 0) -> tuple[Tensor, Tensor]:
        self.steps.append(step)
        return super().loss(model, x, y, step)


def test_classifier_module_passes_the_optimiser_step_to_the_mode(tmp_path) -> None:
    mode = StepRecordingMode()
    module = ClassifierModule(InputRecorder(), training=mode, num_classes=3)
    data = TensorDataset(torch.rand(12, 1, 4, 4), torch.arange(12) % 3, torch.arange(12))
    trainer = L.Trainer(
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(data, batch_size=4))
    assert mode.steps == list(range(6))  # 3 batches × 2 epochs, counted across epochs
