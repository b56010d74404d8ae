"""``robustlens evaluate``: measure a trained classifier with every configured probe.

Flow: load the classifier (checkpoint or config) and optional generator → build probes
→ one ``Trainer.test`` pass per probe not finished yet (resumable) → worst case over
attack probes → ``results.json`` + ``per_sample.csv`` (atomic) → console summary.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from robustlens.evaluation.module import EvaluationModule
from robustlens.evaluation.probe import Probe
from robustlens.tasks.common import build_trainer, results_payload
from robustlens.utils.io import write_text_atomic
from robustlens.utils.resume import (
    PROBES_DIR,
    read_probe_checkpoints,
    read_probe_table,
    write_probe_checkpoint,
    write_results_atomic,
)

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
    raise ValueError(
        "nothing to evaluate: set `ckpt_path=<path to a robustlens train checkpoint>` or choose a "
        "classifier config, e.g. `classifier=buzhinsky_mnist` (Paper A's published MNIST models)"
    )


def load_generator(cfg: DictConfig) -> nn.Module | None:
    if cfg.get("generator_ckpt_path"):
        from robustlens.tasks.generator_training import load_generator_checkpoint

        return load_generator_checkpoint(cfg.generator_ckpt_path)
    if cfg.get("generator"):
        return instantiate(cfg.generator)
    return None


def build_probes(cfg: DictConfig, num_classes: int) -> dict[str, Probe]:
    """Instantiate ``evaluation.probes`` and give each probe the default metrics it lacks."""
    evaluation = cfg.get("evaluation") or {}
    probe_cfgs = evaluation.get("probes") or {}
    if not probe_cfgs:
        raise ValueError("no probes configured: add some, e.g. `evaluation=default` or `+probe@evaluation.probes.pgd=pgd_linf`")
    probes: dict[str, Probe] = {}
    for name, probe_cfg in probe_cfgs.items():
        if probe_cfg is None:
            continue  # a probe removed with `evaluation.probes.<name>=null`
        metric_cfgs = {**(evaluation.get("default_metrics") or {}), **(probe_cfg.get("metrics") or {})}
        metrics = {
            metric_name: _instantiate_metric(metric_cfg, num_classes)
            for metric_name, metric_cfg in metric_cfgs.items()
            if metric_cfg is not None
        }
        plain = OmegaConf.to_container(probe_cfg, resolve=True)  # resolve against the whole config
        plain.pop("metrics", None)
        probes[str(name)] = instantiate(plain, metrics=metrics)
        if hasattr(probes[str(name)], "set_memory_budget"):  # latent probes: chunks that fit the budget
            probes[str(name)].set_memory_budget(evaluation.get("memory_budget_mb"))
    return probes


def _instantiate_metric(metric_cfg: DictConfig, num_classes: int) -> Any:
    """Metrics count classes of the data at hand: ``num_classes`` comes from the datamodule."""
    if "num_classes" in metric_cfg:
        return instantiate(metric_cfg, num_classes=num_classes)
    return instantiate(metric_cfg)


def latent_embeddings(probes: dict[str, Probe], clean_probe: str = "clean") -> dict[str, Any]:
    """Clean-vs-attacked 2-D embeddings for every probe whose LatentStructure metric ran."""
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
    """Evaluate ``classifier`` on ``datamodule``'s test split; returns the results payload."""
    started = started or time.time()
    output_dir = Path(cfg.paths.output_dir)
    probes = build_probes(cfg, datamodule.num_classes)
    fingerprints = probe_fingerprints(cfg, list(probes))
    # only probes finished under this very configuration are reused (a changed ε, data subset
    # or checkpoint makes every earlier probe result stale; another probe added or changed does not)
    finished = {
        name: record for name, record in read_probe_checkpoints(output_dir).items()
        if name in fingerprints and record.get("params", {}).get("config_fingerprint") == fingerprints[name]
    }
    generator = load_generator(cfg)
    if generator is not None:  # a generator that does not fit fails here, before any search
        from robustlens.models.generators.checks import check_generator_fits

        check_generator_fits(
            generator, classifier, datamodule.num_classes, getattr(datamodule, "input_shape", None)
        )
    module = EvaluationModule(
        classifier=classifier,
        probes=probes,
        generator=generator,
        num_classes=datamodule.num_classes,
        class_names=list(getattr(datamodule, "class_names", [])) or None,
        seed=int(cfg.get("seed") or 0),
    )
    trainer = build_trainer(cfg, inference_mode=False, use_distributed_sampler=False)
    descriptions = {name: probe.describe() for name, probe in probes.items()}
    metrics: dict[str, Any] = {}
    tables: dict[str, pd.DataFrame] = {}
    for name in probes:
        table = read_probe_table(output_dir, finished[name]) if name in finished else None
        if table is not None:
            log.info("probe %s already finished: reusing %s/%s", name, PROBES_DIR, name)
            metrics.update(finished[name]["metrics"])
            tables[name] = table
            continue
        module.probe_name = name
        trainer.test(module, datamodule=datamodule, verbose=False)
        metrics.update(module.last_metrics)
        tables[name] = module.last_table
        if trainer.is_global_zero:
            table_path = write_text_atomic(output_dir / PROBES_DIR / f"{name}.csv", module.last_table.to_csv(index=False))
            write_probe_checkpoint(
                output_dir, name, module.last_metrics, {**descriptions[name], "config_fingerprint": fingerprints[name]},
                table=table_path,
            )
            _write(cfg, output_dir, "partial", metrics, descriptions, list(tables), started)
    per_sample = merge_tables(tables)
    metrics.update(worst_case_metrics(per_sample, [n for n, p in probes.items() if p.in_worst_case], module.num_classes))
    payload = {}
    if trainer.is_global_zero:
        write_text_atomic(output_dir / "per_sample.csv", per_sample.to_csv(index=False))
        payload = _write(cfg, output_dir, "complete", metrics, descriptions, list(tables), started)
    module.results, module.per_sample = metrics, per_sample
    module.embeddings = latent_embeddings(probes) if trainer.is_global_zero else {}
    reporters = [callback for callback in trainer.callbacks if hasattr(callback, "on_evaluation_end")]
    if not reporters:  # e.g. evaluation after training: the class-wise files are always written
        from robustlens.callbacks.classwise_report import ClasswiseReportCallback

        reporters = [ClasswiseReportCallback(output_dir=str(output_dir))]
    for callback in reporters:
        callback.on_evaluation_end(trainer, module)
    if trainer.is_global_zero:
        print_summary(metrics, list(probes), module.class_names)
    return payload


def _write(cfg, output_dir: Path, status: str, metrics, descriptions, completed: list[str], started) -> dict[str, Any]:
    payload = results_payload(
        cfg, status=status, metrics=metrics, probes=descriptions, started=started,
        extra={"completed_probes": completed},
    )
    write_results_atomic(output_dir, payload)
    return payload


def probe_fingerprints(cfg: DictConfig, names: list[str]) -> dict[str, str]:
    """Per probe, a hash of everything that decides its result: the config less paths and console
    options, and less the *other* probes' settings.

    Why per probe: every probe draws its randomness per sample (seed, sample index), never from
    the probes run before it, so adding or changing one probe of a finished evaluation must rerun
    only that probe. The config is resolved once for all probes.
    """
    import hashlib
    import json

    plain = OmegaConf.to_container(cfg, resolve=True)
    for volatile in ("paths", "extras", "logger", "callbacks", "skip_if_complete", "tags"):
        plain.pop(volatile, None)
    evaluation = plain.get("evaluation")
    all_probes = evaluation.get("probes") if isinstance(evaluation, dict) else None
    fingerprints = {}
    for name in names:
        if isinstance(all_probes, dict):
            evaluation["probes"] = {name: all_probes.get(name)}
        fingerprints[name] = hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return fingerprints


def merge_tables(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per sample: ``index, label`` and ``<probe>/<column>`` for every probe."""
    merged: pd.DataFrame | None = None
    for name, table in tables.items():
        if table is None or table.empty:
            continue
        renamed = table.rename(columns={c: f"{name}/{c}" for c in table.columns if c not in ("index", "label")})
        merged = renamed if merged is None else merged.merge(renamed, on=["index", "label"], how="outer")
    return merged if merged is not None else pd.DataFrame(columns=["index", "label"])


def worst_case_metrics(per_sample: pd.DataFrame, attack_probes: list[str], num_classes: int) -> dict[str, float]:
    """Pointwise worst case over attack probes: a sample is robust only if *every* attack failed.

    Named ``worst_case/...`` so it is never mistaken for one attack's number (pitfall 7).
    """
    columns = [f"{name}/pred" for name in attack_probes if f"{name}/pred" in per_sample]
    if not columns:
        return {}
    correct = per_sample[columns].eq(per_sample["label"], axis=0).all(axis=1)
    out = {"worst_case/accuracy": float(correct.mean())}
    for c in range(num_classes):
        mask = per_sample["label"] == c
        out[f"worst_case/classwise_accuracy/{c}"] = float(correct[mask].mean()) if mask.any() else float("nan")
    return out


_STATISTIC_SUFFIXES = ("_std", "_min", "_q25", "_median", "_q75", "_max")


def print_summary(metrics: dict[str, Any], probes: list[str], class_names: list[str]) -> None:
    """Console table: one row per probe with its headline scalars (statistics beyond the mean are in the files)."""
    from rich.console import Console
    from rich.table import Table

    shown: list[str] = []
    for key, value in metrics.items():
        name = key.split("/", 1)[-1]
        if (
            isinstance(value, float) and key.count("/") == 1 and name not in shown and name != "num_errors"
            and not name.endswith(_STATISTIC_SUFFIXES)
        ):
            shown.append(name)
    shown = shown[:7]
    table = Table(title=f"robustlens evaluation ({len(class_names)} classes; per-class values in results.json)")
    table.add_column("probe")
    for metric in shown:
        table.add_column(metric, justify="right")
    for probe in [*probes, "worst_case"]:
        row = [metrics.get(f"{probe}/{m}") for m in shown]
        if all(v is None for v in row):
            continue
        table.add_row(probe, *("" if v is None else f"{v:.4g}" for v in row))
    Console().print(table)


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Task body of ``robustlens evaluate``."""
    from robustlens.tasks.common import job_info
    from robustlens.utils.resume import load_complete_results

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
