"""``robustlens train``: fit a classifier (``task=classifier``) or a generator (``task=generator``).

Checkpoints carry the resolved job config; when ``evaluation`` probes are configured the
trained classifier is evaluated in the same job (``results.json`` then holds both).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from robustlens.tasks.common import build_trainer, device_record, results_payload
from robustlens.tasks.generator_training import ensure_cached_generator
from robustlens.utils.results_file import write_results_atomic

log = logging.getLogger("robustlens")


def _scalar_metrics(trainer) -> dict[str, float]:
    return {k: float(v) for k, v in trainer.callback_metrics.items() if getattr(v, "ndim", 1) == 0}


def _resume_checkpoint(trainer) -> Path | None:
    """The checkpoint a killed, pre-empted or requeued run of this job left behind, if any.

    Why here: a requeued SLURM job (submitit resubmits the same Hydra job into the same output dir)
    and a job re-run by hand after ``kill -9`` both find their own ``last.ckpt`` and continue from the
    last finished epoch; :func:`robustlens.utils.training_checkpoints.resumable_checkpoint` never returns a torn file.
    Only reached when the job's results are not complete (the skip check comes first).
    """
    from robustlens.utils.training_checkpoints import resumable_checkpoint

    for callback in trainer.checkpoint_callbacks:
        dirpath = getattr(callback, "dirpath", None)
        found = resumable_checkpoint(dirpath, trainer.max_epochs) if dirpath else None
        if found is not None:
            log.info("resuming the interrupted fit from %s", found)
            return found
    return None


def train(cfg: DictConfig) -> dict[str, Any]:
    """Task body of ``robustlens train``: skip a finished job, else fit what ``task.kind`` names."""
    from robustlens.tasks.common import job_info
    from robustlens.utils.results_file import load_complete_results

    if cfg.get("skip_if_complete", True):
        previous = load_complete_results(cfg.paths.output_dir, job_info(cfg).get("overrides"))
        if previous is not None:
            log.info("results in %s are complete: job skipped (set skip_if_complete=false to redo)",
                     cfg.paths.output_dir)
            return previous
    started = time.time()
    kind = (cfg.get("task") or {}).get("kind", "classifier")
    fits = {"classifier": fit_classifier, "generator": fit_generator}
    if kind not in fits:
        raise ValueError(f"unknown task.kind {kind!r}; valid: {', '.join(fits)}")
    return fits[kind](cfg, instantiate(cfg.data), started)


def fit_generator(cfg: DictConfig, datamodule: Any, started: float) -> dict[str, Any]:
    """``task=generator``: fit the generator and record its metrics and checkpoints."""
    from robustlens.tasks.common import instantiate_dict
    from robustlens.tasks.generator_training import train_generator

    result = train_generator(cfg, datamodule, instantiate_dict(cfg.get("callbacks")), instantiate_dict(cfg.get("logger")))
    payload = results_payload(cfg, status="complete", metrics=result["metrics"], started=started,
                              extra={"checkpoints": result["checkpoints"]})
    write_results_atomic(Path(cfg.paths.output_dir), payload)
    return payload


def fit_classifier(cfg: DictConfig, datamodule: Any, started: float) -> dict[str, Any]:
    """``task=classifier``: fit (resuming an interrupted fit), then evaluate when probes are configured."""
    from robustlens.models.classifier_module import ClassifierModule
    from robustlens.utils.rng_state import ResumableRNGState

    scheduler = cfg.get("scheduler") or None
    module = ClassifierModule(
        net=instantiate(cfg.classifier),
        training=instantiate(cfg.training),
        optimizer=instantiate(cfg.optimizer),
        scheduler=instantiate(scheduler) if scheduler else None,
        num_classes=datamodule.num_classes,
        class_names=list(datamodule.class_names),
        run_config=OmegaConf.to_container(cfg, resolve=True),
    )
    ensure_cached_generator(cfg, datamodule)
    trainer = build_trainer(cfg, extra_callbacks=[ResumableRNGState()])
    resumed = None if cfg.get("ckpt_path") else _resume_checkpoint(trainer)
    ckpt_path = cfg.get("ckpt_path") or resumed
    # this job's own checkpoint (it holds the config's containers): trusted, loaded in full
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=False if resumed else None)
    metrics = {f"train/{k}" if not k.startswith(("train", "val")) else k: v for k, v in _scalar_metrics(trainer).items()}
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") if trainer.checkpoint_callback else ""
    last = getattr(trainer.checkpoint_callback, "last_model_path", "") if trainer.checkpoint_callback else ""
    extra = {"checkpoints": {"best": best or None, "last": last or None},
             "resumed_from": str(resumed) if resumed else None, "device": device_record(trainer)}
    if (cfg.get("evaluation") or {}).get("probes"):
        from robustlens.tasks.evaluate import run_evaluation

        module.net.eval()
        payload = run_evaluation(cfg, module.net, datamodule, started)
        metrics.update(payload.get("metrics", {}))
    if trainer.is_global_zero:
        payload = results_payload(cfg, status="complete", metrics=metrics, started=started, extra=extra)
        write_results_atomic(Path(cfg.paths.output_dir), payload)
        log.info("checkpoints: best=%s last=%s", best, last)
        return payload
    return {}
