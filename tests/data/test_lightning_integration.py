"""The datamodules drive a real Lightning Trainer (fit without val split, validate, test)."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from robustlens.data import DigitsDataModule
from robustlens.models.classifiers import SmallCNN


class _Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = SmallCNN(channels=4, hidden=16)
        self.seen: dict[str, list[int]] = {"val": [], "test": []}

    def training_step(self, batch, _):
        x, y, _idx = batch
        return nn.functional.cross_entropy(self.net(x), y)

    def validation_step(self, batch, _):
        self.seen["val"] += batch[2].tolist()

    def test_step(self, batch, _):
        self.seen["test"] += batch[2].tolist()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _trainer(**kw) -> L.Trainer:
    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, **kw)


def test_fit_without_val_split_then_test_counts_each_sample_once():
    dm = DigitsDataModule(batch_size=32, eval_batch_size=64, test_subset=50)
    model = _Tiny()
    _trainer(max_epochs=1, limit_train_batches=2).fit(model, datamodule=dm)
    assert model.seen["val"] == []  # val_fraction=0: validation disabled, not an error
    _trainer(use_distributed_sampler=False).test(model, datamodule=dm)
    assert sorted(model.seen["test"]) == dm.data_test.positions.tolist()


def test_validate_uses_the_held_out_split():
    dm = DigitsDataModule(batch_size=32, eval_batch_size=64, val_fraction=0.1, seed=5)
    model = _Tiny()
    _trainer().validate(model, datamodule=dm)
    assert sorted(model.seen["val"]) == dm.data_val.positions.tolist() and len(model.seen["val"]) == 144
