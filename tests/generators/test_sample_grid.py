"""SampleGridCallback: PNG grids of fixed-code samples, W&B logging when a WandbLogger is attached."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from robustlens.callbacks.sample_grid import SampleGridCallback
from robustlens.models.generator_module import GeneratorModule
from robustlens.models.generators.cvae import ConditionalVAE


class _RecordingWandb(WandbLogger):
    """A WandbLogger that records instead of starting a W&B run (no network, no service process)."""

    def __init__(self) -> None:
        super().__init__(offline=True)
        self.images: list[dict] = []

    def log_image(self, key, images, step=None, **kwargs) -> None:
        self.images.append({"key": key, "images": images, "step": step, **kwargs})

    def log_hyperparams(self, *args, **kwargs) -> None:
        pass

    def log_metrics(self, *args, **kwargs) -> None:
        pass

    def save(self) -> None:
        pass

    def finalize(self, status: str) -> None:
        pass

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        pass

    @property
    def save_dir(self):
        return None


def _fit(tmp_path: Path, digits28, callback: SampleGridCallback, logger=False, epochs: int = 2):
    torch.manual_seed(0)
    x, y = digits28
    data = DataLoader(TensorDataset(x[:64], y[:64], torch.arange(64)), batch_size=32)
    module = GeneratorModule(ConditionalVAE(latent_dim=4, hidden=(32,)))
    trainer = pl.Trainer(accelerator="cpu", max_epochs=epochs, logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                         callbacks=[callback])
    trainer.fit(module, data, data)
    return module


def test_grid_png_holds_one_row_of_fixed_code_samples_per_class(tmp_path: Path, digits28) -> None:
    callback = SampleGridCallback(every_n_epochs=1, n_per_class=3, out_dir=str(tmp_path / "grids"))
    module = _fit(tmp_path, digits28, callback)
    assert [p.name for p in callback.saved] == ["samples_epoch0000.png", "samples_epoch0001.png"]
    png = np.asarray(Image.open(callback.saved[-1]).convert("L"), dtype=np.float32) / 255
    # make_grid: 2-px padding around 28-px cells → 10 rows, 3 columns
    assert png.shape == (2 + 10 * 30, 2 + 3 * 30)
    z, y = callback.fixed_codes(4, 10)
    module.eval()
    with torch.no_grad():
        expected = module.generator.decode(z, y)
    for k in (0, 4, 29):  # class k // 3, column k % 3
        row, col = k // 3, k % 3
        cell = png[2 + 30 * row : 30 + 30 * row, 2 + 30 * col : 30 + 30 * col]
        assert np.abs(cell - expected[k, 0].numpy()).max() <= 1 / 255 + 1e-6


def test_every_n_epochs_and_wandb_logging(tmp_path: Path, digits28) -> None:
    logger = _RecordingWandb()
    callback = SampleGridCallback(every_n_epochs=2, n_per_class=2, out_dir=str(tmp_path / "grids"))
    _fit(tmp_path, digits28, callback, logger=logger, epochs=4)
    assert [p.name for p in callback.saved] == ["samples_epoch0001.png", "samples_epoch0003.png"]
    assert [entry["key"] for entry in logger.images] == ["samples", "samples"]
    assert logger.images[0]["images"][0].shape == (3, 2 + 10 * 30, 2 + 2 * 30)


def test_default_directory_is_the_run_dir(tmp_path: Path, digits28) -> None:
    callback = SampleGridCallback(n_per_class=1)
    _fit(tmp_path, digits28, callback, epochs=1)
    assert callback.saved == [tmp_path / "samples" / "samples_epoch0000.png"]
    assert callback.saved[0].is_file()
