"""``robustlens evaluate``: measure a trained classifier with every configured probe.

The flow, each step in its own module of :mod:`robustlens.evaluation`:

1. load the classifier (checkpoint or config) and the optional generator;
2. build the probes from the config (:mod:`~robustlens.evaluation.building`);
3. reuse the probes an interrupted run of this job finished (:mod:`~robustlens.evaluation.resume`),
   run one ``Trainer.test`` pass for each of the others, saving each as it ends;
4. the pointwise worst case over the attack probes (:mod:`~robustlens.evaluation.worst_case`);
5. ``results.json`` + ``per_sample.csv`` (atomic), every headline scalar to every logger
   (:mod:`~robustlens.evaluation.scalars`), the :class:`~robustlens.evaluation.result.EvaluationResult`
   to every :class:`~robustlens.callbacks.base.EvaluationCallback`, the console summary
   (:mod:`~robustlens.evaluation.console`).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from robustlens.callbacks.base import EvaluationCallback
from robustlens.config.errors import ConfigError
from robustlens.evaluation.building import build_probes, interval_options
from robustlens.evaluation.compiled import compile_classifier
from robustlens.evaluation.console import print_cost_summary, print_summary
from robustlens.evaluation.cost import job_cost
from robustlens.evaluation.module import EvaluationModule, flatten_metric
from robustlens.evaluation.probe import Probe
from robustlens.evaluation.result import EvaluationResult, ProbePass, merge_probe_tables
from robustlens.evaluation.resume import FinishedProbes, probe_fingerprints, save_finished_probe
from robustlens.evaluation.scalars import log_headline_scalars
from robustlens.evaluation.worst_case import PREFIX as WORST_CASE
from robustlens.tasks.common import build_trainer, device_record, job_info, results_payload
from robustlens.utils.io import write_text_atomic
from robustlens.utils.probe_checkpoints import PROBES_DIR
from robustlens.utils.results_file import load_complete_results, write_results_atomic

log = logging.getLogger("robustlens")


def load_classifier(cfg: DictConfig) -> nn.Module:
    """The classifier to evaluate: from ``ckpt_path`` (rebuilt from the checkpoint alone) or ``classifier``."""
    from robustlens.models.classifier_module import load_classifier_checkpoint

    if cfg.get("ckpt_path"):
        return load_classifier_checkpoint(cfg.ckpt_path)
    if cfg.get("classifier"):
        from hydra.errors import InstantiationException

        try:
            return instantiate(cfg.classifier).eval()
        except InstantiationException as exc:
            # a loader's own error (a missing weights file, mismatching keys) names the fix: show it
            # as raised, not inside Hydra's repr() of it
            if isinstance(exc.__cause__, ValueError | FileNotFoundError | ImportError):
                raise exc.__cause__ from None
            raise
    raise ConfigError(
        "nothing to evaluate: set `ckpt_path=<path to a robustlens train checkpoint>` or choose a "
        "classifier config, e.g. `classifier=buzhinsky_mnist` (Paper A's published MNIST models)"
    )


def load_generator(cfg: DictConfig) -> nn.Module | None:
    """The generator of the latent probes: ``generator_ckpt_path`` or a ``generator`` config (else none)."""
    if cfg.get("generator_ckpt_path"):
        from robustlens.tasks.generator_training import load_generator_checkpoint

        return load_generator_checkpoint(cfg.generator_ckpt_path)
    if cfg.get("generator"):
        return instantiate(cfg.generator)
    return None


def latent_embeddings(probes: dict[str, Probe], clean_probe: str = "clean") -> dict[str, Any]:
    """Clean-vs-probed 2-D embeddings for every probe whose LatentStructure metric ran in this job."""
    from robustlens.metrics.latent_structure import LatentStructure, paired_embedding_from_metrics

    def structure(probe: Probe) -> LatentStructure | None:
        found = [m for m in probe.metrics.values() if isinstance(m, LatentStructure)]
        return found[0] if found and found[0].last_features is not None else None

    clean = structure(probes[clean_probe]) if clean_probe in probes else None
    if clean is None:
        return {}
    out = {}
    for name, probe in probes.items():
        attacked = structure(probe)
        if name != clean_probe and attacked is not None:
            out[name] = paired_embedding_from_metrics(clean, attacked, method=clean.embedding, seed=clean.seed)
    return out


def run_evaluation(
    cfg: DictConfig, classifier: nn.Module, datamodule: Any, started: float | None = None
) -> dict[str, Any]:
    """Evaluate ``classifier`` on ``datamodule``'s test split; returns the results payload (rank 0)."""
    started = started or time.time()
    output_dir = Path(cfg.paths.output_dir)
    classifier = compile_classifier(classifier, (cfg.get("evaluation") or {}).get("compile"))
    class_names = [str(c) for c in datamodule.class_names] or [str(c) for c in range(datamodule.num_classes)]
    probes = build_probes(cfg, datamodule.num_classes)
    fingerprints = probe_fingerprints(cfg, list(probes))
    finished = FinishedProbes.find(output_dir, fingerprints)
    generator = load_generator(cfg)
    if generator is not None:  # a generator that does not fit fails here, before any search
        from robustlens.models.generators.checks import check_generator_fits

        check_generator_fits(generator, classifier, datamodule.num_classes, getattr(datamodule, "input_shape", None))
    module = EvaluationModule(
        classifier=classifier, probes=probes, generator=generator,
        num_classes=datamodule.num_classes, class_names=class_names, seed=int(cfg.get("seed") or 0),
    )
    module.worst_case.set_interval_options(interval_options(cfg))
    trainer = build_trainer(cfg, inference_mode=False, use_distributed_sampler=False)
    descriptions = {name: probe.describe() for name, probe in probes.items()}
    passes: dict[str, ProbePass] = {}
    for name in probes:
        reused = finished.load(name)
        if reused is not None:
            log.info("probe %s already finished: reusing %s/%s", name, PROBES_DIR, name)
            passes[name] = reused
            if reused.cost_record:
                descriptions[name]["cost"] = reused.cost_record
            if name in module.worst_case.probe_names and trainer.is_global_zero:
                module.worst_case.update_from_table(name, reused.table)  # once: the metric syncs ranks
            continue
        module.probe_name = name
        trainer.test(module, datamodule=datamodule, verbose=False)
        passes[name] = module.last_pass
        descriptions[name]["cost"] = module.last_pass.cost_record
        if trainer.is_global_zero:
            save_finished_probe(output_dir, name, module.last_pass, descriptions[name], fingerprints[name])
            metrics = {k: v for p in passes.values() for k, v in p.metrics.items()}
            _write(cfg, trainer, "partial", metrics, descriptions, list(passes), started)

    metrics = {k: v for p in passes.values() for k, v in p.metrics.items()}
    if module.worst_case.probe_names:
        for key, value in module.worst_case.compute().items():
            metrics.update(flatten_metric(f"{WORST_CASE}/{key}", value))
    metrics.update(job_cost(metrics, list(probes)))
    per_sample = merge_probe_tables({name: p.table for name, p in passes.items()})
    payload: dict[str, Any] = {}
    if trainer.is_global_zero:
        write_text_atomic(output_dir / "per_sample.csv", per_sample.to_csv(index=False))
        payload = _write(cfg, trainer, "complete", metrics, descriptions, list(passes), started)
        log_headline_scalars(trainer.loggers, metrics)
    result = EvaluationResult(
        metrics=metrics, per_sample=per_sample, class_names=class_names, output_dir=output_dir,
        probes=list(probes), images={name: p.images for name, p in passes.items() if p.images},
        embeddings=latent_embeddings(probes) if trainer.is_global_zero else {},
    )
    for callback in trainer.callbacks:
        if isinstance(callback, EvaluationCallback):
            callback.on_evaluation_end(trainer, module, result)
    if trainer.is_global_zero:
        print_summary(metrics, list(probes), len(class_names))
        print_cost_summary(metrics, list(probes), descriptions)
    return payload


def _write(
    cfg: DictConfig, trainer: L.Trainer, status: str, metrics: dict[str, Any], descriptions: dict[str, Any],
    completed: list[str], started: float,
) -> dict[str, Any]:
    payload = results_payload(
        cfg, status=status, metrics=metrics, probes=descriptions, started=started,
        extra={"completed_probes": completed, "world_size": int(trainer.world_size), "device": device_record(trainer)},
    )
    write_results_atomic(Path(cfg.paths.output_dir), payload)
    return payload


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Task body of ``robustlens evaluate``."""
    output_dir = Path(cfg.paths.output_dir)
    if cfg.get("skip_if_complete", True):
        previous = load_complete_results(output_dir, job_info(cfg).get("overrides"))
        configured = set((cfg.get("evaluation") or {}).get("probes") or {})
        new_probes = sorted(configured - set((previous or {}).get("probes") or {}))
        if previous is not None and not new_probes:
            log.info("results in %s are complete: job skipped (set skip_if_complete=false to redo)", output_dir)
            return previous
        if previous is not None:
            log.info(
                "results in %s are complete but lack the probes %s: running them "
                "(finished probes with unchanged settings are reused)", output_dir, new_probes,
            )
    started = time.time()
    datamodule = instantiate(cfg.data)
    classifier = load_classifier(cfg)
    return run_evaluation(cfg, classifier, datamodule, started)
