"""OmegaConf resolvers used by ``conf/`` (registered once, before Hydra composes)."""

from __future__ import annotations

from omegaconf import OmegaConf

from robustlens.config.locate import project_root


def _hydra_cfg():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def run_name() -> str:
    """``<task>`` plus the job's command-line overrides: ``train:training=pgd_at,seed=1``."""
    hc = _hydra_cfg()
    if hc is None:
        return "robustlens"
    overrides = [o for o in hc.overrides.task if not o.startswith(("hydra", "logger"))]
    name = hc.job.config_name or "run"
    return f"{name}:{','.join(overrides)}" if overrides else name


def sweep_group() -> str | None:
    """All jobs of one multirun share a W&B group (the sweep dir's name); single runs have none."""
    hc = _hydra_cfg()
    if hc is None or str(hc.mode) != "RunMode.MULTIRUN":
        return None
    from pathlib import Path

    return f"{hc.job.config_name}-{Path(hc.sweep.dir).name}"


def sweep_tags() -> list[str]:
    """In a multirun, the job's overrides as W&B tags (``training=pgd_at``), at most 64 characters each."""
    hc = _hydra_cfg()
    if hc is None or str(hc.mode) != "RunMode.MULTIRUN":
        return []
    return [o.lstrip("+~")[:64] for o in hc.overrides.task if not o.startswith(("hydra", "logger"))]


def register_resolvers() -> None:
    for name, fn in {
        "robustlens.project_root": lambda: str(project_root()),
        "robustlens.run_name": run_name,
        "robustlens.sweep_group": sweep_group,
        "robustlens.sweep_tags": sweep_tags,
        # class counts that follow a list in the config (data=lsun: len(categories))
        "robustlens.len": lambda items: len(items),
    }.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
