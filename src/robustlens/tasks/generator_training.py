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
import torch
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
    """Accuracy of a fixed reference classifier on class-conditional samples (overall and per class).

    The reference moves to the generator's device (a generator trained with ``trainer=gpu`` samples there).
    """
    from robustlens.models.generators.quality import generated_sample_accuracy

    device = next(iter(generator.parameters()), torch.empty(0)).device
    reference = reference.to(device)
    overall, per_class = generated_sample_accuracy(generator, reference, n_per_class=n_per_class, seed=seed)
    metrics: dict[str, Any] = {"generator/reference_accuracy": float(overall)}
    metrics.update({f"generator/reference_accuracy/{c}": float(v) for c, v in enumerate(per_class.tolist())})
    return metrics


#: what a generator fit always sets, whatever the trainer config says: the checkpoint is saved
#: explicitly after the fit, and generators have no validation metric to monitor or sanity-check
GENERATOR_FIT_SETTINGS: dict[str, Any] = {
    "enable_checkpointing": False, "enable_model_summary": False, "num_sanity_val_steps": 0, "limit_val_batches": 0,
}


def fit_generator(
    module_cfg: DictConfig, datamodule: Any, trainer_cfg: DictConfig | dict[str, Any], output_dir: Path, seed: int,
    callbacks: list[Any] | None = None, loggers: list[Any] | bool = False,
) -> tuple[L.LightningModule, L.Trainer]:
    """Fit a GeneratorModule with the Trainer ``trainer_cfg`` describes (sample grids saved every epoch).

    Why the job's trainer config: ``trainer=gpu`` (accelerator, devices, precision, max_epochs) must
    reach the generator's fit as it reaches a classifier's; only :data:`GENERATOR_FIT_SETTINGS`
    and the output folder are fixed here.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    from robustlens.callbacks.sample_grid import SampleGridCallback

    L.seed_everything(seed, workers=True, verbose=False)
    callbacks = [c for c in callbacks or [] if not isinstance(c, ModelCheckpoint)]
    module = instantiate(module_cfg, _recursive_=False)
    trainer = instantiate(
        trainer_cfg, logger=loggers, callbacks=[*callbacks, SampleGridCallback(out_dir=str(output_dir / "samples"))],
        default_root_dir=str(output_dir), **GENERATOR_FIT_SETTINGS,
    )
    trainer.fit(module, datamodule=datamodule)
    return module, trainer


def cached_generator_trainer(trainer_cfg: DictConfig | None, max_epochs: int) -> dict[str, Any]:
    """The Trainer config of the generator a classifier job trains once for its sweep.

    The job's accelerator and precision, on **one** device: the cached generator is trained by
    whichever job takes the lock first, before that job's own (possibly multi-device) fit starts.
    """
    trainer_cfg = trainer_cfg or {}
    settings = {"_target_": "lightning.Trainer", "max_epochs": max_epochs, "devices": 1,
                "accelerator": trainer_cfg.get("accelerator", "cpu")}
    if trainer_cfg.get("precision") is not None:
        settings["precision"] = trainer_cfg.get("precision")
    return settings


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
            training.module, datamodule, cached_generator_trainer(cfg.get("trainer"), int(training.max_epochs)),
            path.parent / "generator_run", seed=int(training.get("seed", 0)),
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
        cfg.task.module, datamodule, cfg.trainer, output_dir, int(cfg.seed or 0),
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
