"""Resume an evaluation probe by probe: fingerprints, saving a finished probe, reusing it.

Why per probe: a long evaluation (AutoAttack, latent searches) killed in its fifth probe must
not redo the first four. When a probe's pass ends, its per-sample table, first-batch images and
metrics are saved under ``<output_dir>/probes/``; the metrics file is written last, so its
presence means the probe finished. A restarted job reuses a saved probe only when the probe's
*fingerprint* (a hash of everything that decides its result) is unchanged.

The file formats and their hardened readers are in :mod:`robustlens.utils.probe_checkpoints`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from robustlens.evaluation.result import ProbePass
from robustlens.utils.io import write_text_atomic
from robustlens.utils.probe_checkpoints import (
    PROBES_DIR,
    read_probe_checkpoints,
    read_probe_table,
    write_probe_checkpoint,
)

log = logging.getLogger("robustlens")

#: config keys that never change a probe's result (where files go, how the console looks)
VOLATILE_KEYS = ("paths", "extras", "logger", "callbacks", "skip_if_complete", "tags", "note")


def probe_fingerprints(cfg: DictConfig, names: list[str]) -> dict[str, str]:
    """Per probe, a hash of the config less :data:`VOLATILE_KEYS` and less the *other* probes.

    Why the other probes are left out: every probe draws its randomness per sample (seed,
    sample index), never from the probes run before it, so adding or changing one probe of a
    finished evaluation must rerun only that probe. The config is resolved once for all probes.
    """
    plain = OmegaConf.to_container(cfg, resolve=True)
    for volatile in VOLATILE_KEYS:
        plain.pop(volatile, None)
    evaluation = plain.get("evaluation")
    all_probes = evaluation.get("probes") if isinstance(evaluation, dict) else None
    fingerprints = {}
    for name in names:
        if isinstance(all_probes, dict):
            evaluation["probes"] = {name: all_probes.get(name)}
        fingerprints[name] = hashlib.sha256(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return fingerprints


def _table_path(output_dir: Path, name: str) -> Path:
    return output_dir / PROBES_DIR / f"{name}.csv"


def _images_path(output_dir: Path, name: str) -> Path:
    return output_dir / PROBES_DIR / f"{name}.images.pt"


def save_finished_probe(
    output_dir: Path, name: str, result: ProbePass, params: dict[str, Any], fingerprint: str
) -> None:
    """Write a finished probe's table, images and (last, marking it finished) its metrics file."""
    table = write_text_atomic(_table_path(output_dir, name), result.table.to_csv(index=False))
    if result.images:
        tmp = _images_path(output_dir, name).with_suffix(".tmp")
        torch.save({key: value.detach().cpu() for key, value in result.images.items()}, tmp)
        tmp.replace(_images_path(output_dir, name))
    write_probe_checkpoint(
        output_dir, name, result.metrics, {**params, "config_fingerprint": fingerprint}, table=table
    )


@dataclass(frozen=True)
class FinishedProbes:
    """The probes of an earlier run of this job that can be reused as they are."""

    output_dir: Path
    records: dict[str, dict[str, Any]]

    @classmethod
    def find(cls, output_dir: Path, fingerprints: dict[str, str]) -> FinishedProbes:
        """Saved probes whose fingerprint matches; a changed ε, data subset or checkpoint makes a
        saved probe stale, another probe added or changed does not."""
        records = {
            name: record
            for name, record in read_probe_checkpoints(output_dir).items()
            if name in fingerprints and record.get("params", {}).get("config_fingerprint") == fingerprints[name]
        }
        return cls(Path(output_dir), records)

    def load(self, name: str) -> ProbePass | None:
        """The saved pass of ``name``, or ``None`` when it is not reusable (the probe then runs again)."""
        if name not in self.records:
            return None
        table = read_probe_table(self.output_dir, self.records[name])  # checksum-checked; None: runs again
        if table is None:
            return None
        images: dict[str, torch.Tensor] = {}
        path = _images_path(self.output_dir, name)
        if path.is_file():
            try:
                images = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # the figures are lost, the numbers are not
                log.warning("probe %s: saved images unreadable (%s); its figures are skipped", name, exc)
        cost_record = self.records[name].get("params", {}).get("cost") or {}
        return ProbePass(metrics=dict(self.records[name]["metrics"]), table=table, images=images,
                         cost_record=dict(cost_record))
