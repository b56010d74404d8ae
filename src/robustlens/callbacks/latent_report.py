"""Figures of the latent probes after each probe pass: image grid and statistic densities.

Why a callback at ``on_test_end``: the evaluate task runs one ``trainer.test`` pass per probe,
and only then are a probe's first-batch images (``pl_module.last_images``) and per-sample
table (``pl_module.last_table``) complete. Files go to ``<output_dir>/latent/`` for users
without W&B and, when a ``WandbLogger`` is attached, into the run as images.
"""

from __future__ import annotations

from pathlib import Path

from lightning import LightningModule, Trainer
from lightning.pytorch.callbacks import Callback

from robustlens.callbacks.wandb_logger import is_wandb_logger
from robustlens.plots.classwise import save_figure
from robustlens.plots.latent import latent_grid_figure, statistic_densities_figure

STATISTICS = ("latent_norm", "norm_growth", "image_l2s", "image_l1")


class LatentReportCallback(Callback):
    """Writes ``<probe>__grid.png`` and ``<probe>__densities.png`` for every probe that has them.

    Args:
        output_dir: job output directory; ``None`` uses ``trainer.default_root_dir``.
        subdir: folder under the output directory.
        statistics: per-sample columns whose densities are drawn (Paper A's perturbation statistics).
        log_wandb: also log the figures to every attached ``WandbLogger``.
        dpi: resolution of the PNG files.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        subdir: str = "latent",
        statistics: tuple[str, ...] | list[str] = STATISTICS,
        log_wandb: bool = True,
        dpi: int = 100,
    ) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.subdir = subdir
        self.statistics = tuple(statistics)
        self.log_wandb = log_wandb
        self.dpi = dpi
        self.written: list[Path] = []

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        name = getattr(pl_module, "probe_name", None)
        images = getattr(pl_module, "last_images", None) or {}
        table = getattr(pl_module, "last_table", None)
        has_statistics = table is not None and any(c in table.columns for c in self.statistics)
        if name is None or not (images or has_statistics):
            return
        out_dir = Path(self.output_dir or trainer.default_root_dir) / self.subdir
        written = []
        if images:
            figure = latent_grid_figure(images, title=f"{name}: first samples")
            written.append(save_figure(figure, out_dir / f"{name}__grid.png", dpi=self.dpi))
        if has_statistics:
            figure = statistic_densities_figure(table, self.statistics, title=f"{name}: found perturbations")
            written.append(save_figure(figure, out_dir / f"{name}__densities.png", dpi=self.dpi))
        self.written += written
        if self.log_wandb:
            self._log_wandb(trainer, name, written)

    @staticmethod
    def _log_wandb(trainer: Trainer, name: str, files: list[Path]) -> None:
        loggers = [logger for logger in trainer.loggers if is_wandb_logger(logger)]
        if not loggers:
            return
        import wandb

        payload = {f"latent/{name}/{p.stem.split('__')[-1]}": wandb.Image(str(p), caption=p.stem) for p in files}
        for logger in loggers:
            logger.experiment.log(payload)
