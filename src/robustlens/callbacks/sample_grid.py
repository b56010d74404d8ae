"""A callback that shows how a generator's class-conditional samples evolve during training.

Why fixed codes: with the same latent codes every epoch, the grids differ only because the
generator changed, so progress (or mode collapse) is visible by eye across epochs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import WandbLogger
from pydantic import Field
from torch import Tensor
from torchvision.utils import make_grid, save_image


class SampleGridCallback(pl.Callback):
    """Every ``every_n_epochs`` epochs, a grid with one row per class of ``n_per_class`` samples.

    Saved as ``samples_epoch{E:04d}.png`` in ``out_dir`` (default: ``<trainer.log_dir>/samples``
    or ``<trainer.default_root_dir>/samples``) and logged to every attached ``WandbLogger``
    as ``wandb.Image`` under ``samples``; works without W&B. Needs ``pl_module.generator``
    (a robustlens ``Generator``). Runs at the end of validation, or of the training epoch
    when there is no validation loop.
    """

    def __init__(
        self,
        every_n_epochs: Annotated[int, Field(ge=1)] = 1,
        n_per_class: Annotated[int, Field(ge=1)] = 8,
        seed: int = 0,
        out_dir: str | None = None,
    ):
        self.every_n_epochs = int(every_n_epochs)
        self.n_per_class = int(n_per_class)
        self.seed = int(seed)
        self.out_dir = out_dir
        self.saved: list[Path] = []
        self._last_epoch: int | None = None

    def fixed_codes(self, latent_dim: int, num_classes: int) -> tuple[Tensor, Tensor]:
        """The same ``(z, y)`` every call: codes from ``seed``, labels class-major."""
        gen = torch.Generator().manual_seed(self.seed)
        z = torch.randn(num_classes * self.n_per_class, latent_dim, generator=gen)
        y = torch.arange(num_classes).repeat_interleave(self.n_per_class)
        return z, y

    def _directory(self, trainer: pl.Trainer) -> Path:
        if self.out_dir is not None:
            return Path(self.out_dir)
        return Path(trainer.log_dir or trainer.default_root_dir) / "samples"

    @torch.no_grad()
    def make_grid(self, generator) -> Tensor:
        z, y = self.fixed_codes(generator.latent_dim, generator.num_classes)
        device = next(generator.parameters()).device
        was_training = generator.training
        generator.eval()
        try:
            images = generator.decode(z.to(device), y.to(device)).clamp(0, 1).cpu()
        finally:
            generator.train(was_training)
        return make_grid(images, nrow=self.n_per_class, padding=2, pad_value=1.0)

    def _maybe_log(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if trainer.sanity_checking or epoch == self._last_epoch or (epoch + 1) % self.every_n_epochs:
            return
        self._last_epoch = epoch
        generator = getattr(pl_module, "generator", None)
        if generator is None:
            raise AttributeError(f"{type(pl_module).__name__} has no `generator` attribute to sample from")
        grid = self.make_grid(generator)
        if not trainer.is_global_zero:
            return
        directory = self._directory(trainer)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"samples_epoch{epoch:04d}.png"
        save_image(grid, path)
        self.saved.append(path)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="samples", images=[grid], step=trainer.global_step,
                                 caption=[f"epoch {epoch}: one row per class"])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._maybe_log(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # covers runs without validation; after a validation this epoch it is a no-op
        self._maybe_log(trainer, pl_module)
