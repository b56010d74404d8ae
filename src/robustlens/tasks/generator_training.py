"""Generator training inside the train task, and the cached generator an experiment can ask for.

``robustlens train task=generator generator=cvae`` fits a GeneratorModule. An evaluation
that needs a generator (Paper A's latent probes) can name ``generator_ckpt_path`` plus a
``generator_training`` block: the first job of a sweep trains and saves the generator
there (under a file lock), every later job — and every re-run — reuses it, so all
classifiers of a comparison are measured with the *same* generator.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

log = logging.getLogger("robustlens")


def load_generator_checkpoint(path: str | Path) -> nn.Module:
    """The trained generator of a ``robustlens train task=generator`` checkpoint (eval mode)."""
    from robustlens.models.generator_module import GeneratorModule

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"generator checkpoint not found: {path}. Train one with `robustlens train task=generator "
            "generator=cvae` and pass its checkpoints/last.ckpt as generator_ckpt_path=..."
        )
    return GeneratorModule.load_from_checkpoint(path, map_location="cpu").generator.eval()


def generator_quality(generator: nn.Module, reference: nn.Module, n_per_class: int, seed: int) -> dict[str, Any]:
    """Accuracy of a fixed reference classifier on class-conditional samples (overall and per class)."""
    from robustlens.models.generators.quality import generated_sample_accuracy

    overall, per_class = generated_sample_accuracy(generator, reference, n_per_class=n_per_class, seed=seed)
    metrics: dict[str, Any] = {"generator/reference_accuracy": float(overall)}
    metrics.update({f"generator/reference_accuracy/{c}": float(v) for c, v in enumerate(per_class.tolist())})
    return metrics


def fit_generator(
    module_cfg: DictConfig, datamodule: Any, max_epochs: int, output_dir: Path, seed: int,
    callbacks: list[Any] | None = None, loggers: list[Any] | bool = False,
) -> tuple[L.LightningModule, L.Trainer]:
    """Fit a GeneratorModule (sample grids are saved every epoch)."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    from robustlens.callbacks.sample_grid import SampleGridCallback

    L.seed_everything(seed, workers=True, verbose=False)
    # the checkpoint is saved explicitly after fit (generators have no validation metric to monitor)
    callbacks = [c for c in callbacks or [] if not isinstance(c, ModelCheckpoint)]
    module = instantiate(module_cfg, _recursive_=False)
    trainer = L.Trainer(
        max_epochs=max_epochs, accelerator="cpu", devices=1, logger=loggers,
        callbacks=[*callbacks, SampleGridCallback(out_dir=str(output_dir / "samples"))],
        enable_checkpointing=False, default_root_dir=str(output_dir), enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0,
    )
    trainer.fit(module, datamodule=datamodule)
    return module, trainer


def ensure_cached_generator(cfg: DictConfig, datamodule: Any) -> Path | None:
    """Train and save the generator at ``cfg.generator_ckpt_path`` unless it already exists."""
    path_value, training = cfg.get("generator_ckpt_path"), cfg.get("generator_training")
    if not path_value or not training:
        return Path(path_value) if path_value else None
    path = Path(path_value)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one job trains; concurrent jobs wait, then reuse
        if path.is_file():
            log.info("reusing the cached generator %s", path)
            return path
        log.info("training the generator once for this experiment: %s", path)
        _, trainer = fit_generator(
            training.module, datamodule, int(training.max_epochs), path.parent / "generator_run",
            seed=int(training.get("seed", 0)),
        )
        tmp = path.with_suffix(".tmp")
        trainer.save_checkpoint(tmp)
        os.replace(tmp, path)
    return path


def train_generator(cfg: DictConfig, datamodule: Any, callbacks: list[Any], loggers: list[Any]) -> dict[str, Any]:
    """Body of ``robustlens train task=generator``: fit, checkpoint, sample-quality check."""
    if not cfg.get("generator"):
        raise ValueError("task=generator needs a generator config: generator=cvae or generator=wgan_gp (task=generator_gan)")
    output_dir = Path(cfg.paths.output_dir)
    module, trainer = fit_generator(
        cfg.task.module, datamodule, int(cfg.trainer.max_epochs), output_dir, int(cfg.seed or 0),
        callbacks=callbacks, loggers=loggers or False,
    )
    last = output_dir / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(last)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "ndim", 1) == 0}
    reference_cfg = cfg.task.get("reference_classifier")
    if reference_cfg:
        reference = (
            _load_reference(reference_cfg) if isinstance(reference_cfg, str) else instantiate(reference_cfg).eval()
        )
        metrics.update(generator_quality(module.generator.eval(), reference, int(cfg.task.quality_samples_per_class), 0))
    return {"metrics": metrics, "checkpoints": {"last": str(last), "best": None}}


def _load_reference(path: str) -> nn.Module:
    from robustlens.models.classifier_module import load_classifier_checkpoint

    return load_classifier_checkpoint(path)
