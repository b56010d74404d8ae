"""Figures of the latent probes at the end of an evaluation: image grid and statistic densities.

For every probe of the :class:`~robustlens.evaluation.result.EvaluationResult` with first-batch
images or Paper A's perturbation statistics in its per-sample columns, the callback writes
``<probe>__grid.png`` and ``<probe>__densities.png`` to ``<output_dir>/latent/`` (for users
without W&B) and, when a ``WandbLogger`` is attached, logs them to the run as images.
"""

from __future__ import annotations

from pathlib import Path

from lightning import LightningModule, Trainer

from robustlens.callbacks.base import EvaluationCallback
from robustlens.callbacks.wandb_logger import is_wandb_logger
from robustlens.evaluation.result import EvaluationResult
from robustlens.plots.classwise import save_figure
from robustlens.plots.latent import latent_grid_figure, statistic_densities_figure

STATISTICS = ("latent_norm", "norm_growth", "image_l2s", "image_l1")


class LatentReportCallback(EvaluationCallback):
    """Writes ``<probe>__grid.png`` and ``<probe>__densities.png`` for every probe that has them.

    Args:
        output_dir: job output directory; ``None`` uses the evaluation's ``output_dir``.
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

    def on_evaluation_end(self, trainer: Trainer, pl_module: LightningModule, result: EvaluationResult) -> None:
        if not trainer.is_global_zero:
            return
        out_dir = Path(self.output_dir or result.output_dir) / self.subdir
        for name in result.probes:
            images = result.images.get(name) or {}
            table = result.probe_table(name)
            has_statistics = any(c in table.columns for c in self.statistics)
            if not (images or has_statistics):
                continue
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
