"""Label report rows by model: name, architecture, training, and RobustBench's published numbers.

Why: a sweep over zoo models (``classifier.name=Standard,Carmon2019Unlabeled,...``) would
otherwise be labelled by the override alone. Each job's resolved classifier config says which
source and model it loaded; from it the report gets three row labels,

- ``model``: the model's name (RobustBench/timm name, torchvision architecture, file stem),
- ``architecture``: RobustBench's published architecture, else the network's name,
- ``model_training``: ``standard`` or ``robust (<threat model>)`` for RobustBench models,

and, for RobustBench models, the published clean and AutoAttack accuracy as metrics of a
pseudo-probe ``robustbench`` (``robustbench/published_clean_accuracy``,
``robustbench/published_robust_accuracy``) so a table can put them beside robustlens' own
measurement: a loaded model whose clean accuracy is far from the published one is the wrong
model (or the wrong preprocessing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from robustlens.report.collect import JobRecord

LABELS = ("model", "architecture", "model_training")
PUBLISHED_PROBE = "robustbench"
_SOURCES = "robustlens.models.classifiers.sources."


def model_labels(config: dict[str, Any]) -> dict[str, Any] | None:
    """``{model, architecture, model_training, published_*}`` of a job's resolved config; ``None``
    when its classifier is not one of the zoo sources."""
    classifier = (config or {}).get("classifier") or {}
    target = str(classifier.get("_target_", ""))
    if not target.startswith(_SOURCES):
        return None
    source = target.rsplit(".", 1)[-1].removeprefix("load_")
    if source == "robustbench":
        from robustlens.models.classifiers.sources.robustbench_source import published_info, training_kind

        name, dataset, threat = classifier.get("name"), classifier.get("dataset"), classifier.get("threat_model")
        info = published_info(str(name), str(dataset), str(threat), classifier.get("model_info_dir"))
        return {
            "model": name, "architecture": info.get("architecture") or "unknown",
            "model_training": training_kind(str(name), str(threat)),
            "published_clean_accuracy": _fraction(info.get("clean_acc")),
            "published_robust_accuracy": _fraction(info.get("autoattack_acc")),
        }
    if source in ("timm", "torchvision"):
        name = str(classifier.get("name"))
        return {"model": name, "architecture": name.split(".")[0], "model_training": "n/a"}
    path = classifier.get("path") or classifier.get("weights")
    network = (classifier.get("network") or {}).get("_target_", "")
    name = classifier.get("name") or (Path(str(path)).stem if path else network.rsplit(".", 1)[-1])
    return {"model": name, "architecture": network.rsplit(".", 1)[-1] or source, "model_training": "n/a"}


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else float(percent) / 100.0


def with_model_labels(df: pd.DataFrame, records: list[JobRecord]) -> pd.DataFrame:
    """``df`` with the model label columns and the published-accuracy rows, when any job loaded a zoo model.

    Label columns already present (a swept parameter of that name) are left alone.
    """
    labels = {r.job: model_labels((r.payload or {}).get("config") or {}) for r in records if r.status == "complete"}
    labels = {job: value for job, value in labels.items() if value is not None}
    if not labels or df.empty:
        return df
    out = df.copy()
    added = [c for c in LABELS if c not in out.columns]
    for column in added:
        out[column] = out["job"].map(lambda job, c=column: (labels.get(job) or {}).get(c, np.nan))
    rows = []
    for job, value in labels.items():
        first = out[out["job"] == job].iloc[:1]
        if first.empty:
            continue
        for metric in ("published_clean_accuracy", "published_robust_accuracy"):
            if value.get(metric) is None:
                continue
            row = first.iloc[0].to_dict()
            row.update(probe=PUBLISHED_PROBE, metric=metric, value=float(value[metric]))
            row["class"] = pd.NA
            rows.append(row)
    if rows:
        # first, so that tables list the published columns before robustlens' measurements
        out = pd.concat([pd.DataFrame(rows, columns=out.columns), out], ignore_index=True)
        out["class"] = out["class"].astype("Int64")
    # the tidy layout keeps parameter columns between ``job`` and the key columns
    key = ["probe", "metric", "class", "value"]
    params = [c for c in out.columns if c not in ("job", *key)]
    return out[["job", *params, *key]]
