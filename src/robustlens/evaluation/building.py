"""Build the probes of an evaluation from its config (``evaluation.probes`` + ``default_metrics``).

Why the class count is only *checked* here: the data config declares ``num_classes`` and every
metric or probe config interpolates ``${data.num_classes}``, so the composed config already
says how many classes each object counts. Injecting the datamodule's count behind the
config's back would make the saved config lie; a literal that disagrees with the data is
reported instead, with the fix.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from robustlens.attacks.precision import PrecisionError
from robustlens.config.errors import ConfigError
from robustlens.evaluation.probe import Probe
from robustlens.metrics.intervals import DEFAULT_LEVEL, DEFAULT_RESAMPLES, IntervalOptions


class ProbeConfigError(ConfigError):
    """The probes of an evaluation config cannot be built as configured; the message says how to fix it."""


def build_probes(cfg: DictConfig, num_classes: int) -> dict[str, Probe]:
    """Instantiate ``evaluation.probes``, give each probe the default metrics it lacks and the
    evaluation's ``precision`` unless it sets its own (a faithful probe refuses all but fp32).

    Args:
        cfg: the composed job config.
        num_classes: the class count of the data; every ``num_classes`` in the evaluation
            config must agree with it.
    """
    evaluation = cfg.get("evaluation") or {}
    probe_cfgs = evaluation.get("probes") or {}
    if not probe_cfgs:
        raise ProbeConfigError(
            "no probes configured: add some, e.g. `evaluation=default` or `+probe@evaluation.probes.pgd=pgd_linf`"
        )
    defaults = evaluation.get("default_metrics") or {}
    check_class_counts(evaluation, num_classes)
    intervals = interval_options(cfg)
    probes: dict[str, Probe] = {}
    for name, probe_cfg in probe_cfgs.items():
        if probe_cfg is None:
            continue  # a probe removed with `evaluation.probes.<name>=null`
        metric_cfgs = {**defaults, **(probe_cfg.get("metrics") or {})}
        metrics = {key: instantiate(value) for key, value in metric_cfgs.items() if value is not None}
        plain = OmegaConf.to_container(probe_cfg, resolve=True)  # resolved against the whole config
        plain.pop("metrics", None)
        for metric in metrics.values():
            metric.set_interval_options(intervals)
        probe = instantiate(plain, metrics=metrics)
        try:
            probe.use_precision(evaluation.get("precision") or "fp32")
        except PrecisionError as err:
            raise ProbeConfigError(
                f"evaluation.probes.{name}: {err} (`evaluation.probes.{name}.precision=fp32` keeps this probe "
                "in fp32 while the others use evaluation.precision)"
            ) from None
        probe.set_memory_budget(evaluation.get("memory_budget_mb"))  # latent probes: chunks that fit it
        probes[str(name)] = probe
    return probes


def interval_options(cfg: DictConfig) -> IntervalOptions:
    """The intervals every metric of the job computes: ``evaluation.interval_level``,
    ``evaluation.interval_resamples``, ``evaluation.mean_interval`` and the job's ``seed``
    (the bootstrap's seed, so that a rerun gives the same bounds)."""
    evaluation = cfg.get("evaluation") or {}
    try:
        return IntervalOptions(
            level=evaluation.get("interval_level", DEFAULT_LEVEL),
            n_resamples=evaluation.get("interval_resamples", DEFAULT_RESAMPLES),
            seed=int(cfg.get("seed") or 0),
            means=evaluation.get("mean_interval", "t"),
        )
    except ValueError as err:
        raise ProbeConfigError(
            f"{err}: set evaluation.interval_level (e.g. 0.95), evaluation.interval_resamples (e.g. 1000) "
            "and evaluation.mean_interval (t or bootstrap)"
        ) from err


def check_class_counts(evaluation: Any, num_classes: int) -> None:
    """Raise :class:`ProbeConfigError` naming every ``num_classes`` of ``evaluation`` that differs from the data's."""
    plain = OmegaConf.to_container(evaluation, resolve=True) if isinstance(evaluation, DictConfig) else evaluation
    wrong = [f"evaluation.{path} = {value}" for path, value in _find_key(plain, "num_classes") if value != num_classes]
    if wrong:
        raise ProbeConfigError(
            f"the data has {num_classes} classes, but " + ", ".join(wrong)
            + "; write `num_classes: ${data.num_classes}` in those configs (or drop the literal)"
        )


def _find_key(node: Any, key: str, path: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for name, value in node.items():
            where = f"{path}.{name}" if path else str(name)
            if name == key and isinstance(value, int):
                found.append((where, value))
            else:
                found += _find_key(value, key, where)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            found += _find_key(item, key, f"{path}[{i}]")
    return found
