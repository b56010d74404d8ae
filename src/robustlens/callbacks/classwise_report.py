"""Write and log Paper B's class-wise report at the end of an evaluation.

The callback only observes (docs/architecture.md): it turns the finished
:class:`~robustlens.evaluation.result.EvaluationResult` into files under
``<output_dir>/classwise/`` and, for every attached ``WandbLogger``, into W&B tables, images
and charts. What it reads from the result:

* ``metrics``: flat ``{"<probe>/<metric>": float | list | list[list]}`` (per-class vectors as
  ``"<probe>/<metric>/<class>": float``, the results.json form);
* ``class_names``;
* ``embeddings``: ``{probe: {"clean": [N,2], "attacked": [M,2], "labels": [N]}}``
  (see :func:`robustlens.metrics.latent_structure.paired_embedding`);
* ``per_sample`` (``label`` and ``<probe>/pred`` columns): W&B's interactive confusion-matrix
  chart needs per-sample predictions.

Files: ``per_class.csv`` (one row per class, a column per ``probe/metric`` vector),
``scalars.csv``, one CSV per matrix (``<probe>__<metric>.csv``) and PNG heatmaps/bars.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lightning.pytorch import LightningModule, Trainer

from robustlens.callbacks.base import EvaluationCallback
from robustlens.callbacks.wandb_logger import is_wandb_logger
from robustlens.evaluation.result import EvaluationResult
from robustlens.plots.classwise import (
    classwise_accuracy_bars,
    confusion_heatmap,
    embedding_scatter,
    false_score_bars,
    save_figure,
    targeted_success_heatmap,
)

log = logging.getLogger(__name__)

Report = dict[str, dict[str, Any]]  # probe -> metric -> float | np.ndarray


def _to_numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple, np.ndarray)):
        return np.asarray(value, dtype=np.float64)
    return float(value)


def parse_results(results: Mapping[str, Any]) -> Report:
    """Group flat ``"<probe>/<metric>"`` keys by probe; rebuild vectors from ``.../<class>`` keys."""
    report: Report = {}
    per_class: dict[tuple[str, str], dict[int, float]] = {}
    for key, value in results.items():
        parts = key.split("/")
        if len(parts) >= 3 and parts[-1].isdigit() and not isinstance(value, (list, tuple, np.ndarray)):
            # "<probe>/<metric>/<class>" or an interval bound, "<probe>/<metric>/ci_low/<class>"
            per_class.setdefault((parts[0], "/".join(parts[1:-1])), {})[int(parts[-1])] = float(value)
            continue
        if len(parts) < 2:
            continue  # not a probe metric (e.g. a timing entry)
        probe, metric = key.split("/", 1)
        report.setdefault(probe, {})[metric] = _to_numpy(value)
    for (probe, metric), entries in per_class.items():
        metrics = report.setdefault(probe, {})
        if metric not in metrics:
            vector = np.full(max(entries) + 1, np.nan)
            for c, v in entries.items():
                vector[c] = v
            metrics[metric] = vector
    return report


def infer_num_classes(report: Report, class_names: Sequence[str] | None) -> int | None:
    if class_names is not None:
        return len(class_names)
    for preferred in ("classwise_accuracy", "cfps", "confusion"):
        for metrics in report.values():
            if preferred in metrics:
                return int(np.shape(metrics[preferred])[0])
    return None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "probe"


def per_class_table(report: Report, class_names: Sequence[str]) -> pd.DataFrame:
    """One row per class, one column per ``probe/metric`` that is a per-class vector."""
    k = len(class_names)
    table = pd.DataFrame({"class": range(k), "class_name": list(class_names)})
    for probe, metrics in report.items():
        for metric, value in metrics.items():
            if isinstance(value, np.ndarray) and value.shape == (k,):
                table[f"{probe}/{metric}"] = value
    return table


class ClasswiseReportCallback(EvaluationCallback):
    """At the end of an evaluation (rank 0 only): class-wise CSV/PNG files and W&B tables, images, charts.

    Args:
        output_dir: job output directory; ``None`` uses the evaluation's ``output_dir``.
            Files go to ``<output_dir>/<subdir>/``.
        subdir: folder name under the output directory.
        log_wandb: whether to log to every attached ``WandbLogger`` (files are always written).
        dpi: resolution of the PNG files.
    """

    def __init__(
        self, output_dir: str | None = None, subdir: str = "classwise", log_wandb: bool = True, dpi: int = 100
    ) -> None:
        super().__init__()
        self.output_dir = output_dir
        self.subdir = subdir
        self.log_wandb = log_wandb
        self.dpi = dpi
        self.written: list[Path] = []

    def on_evaluation_end(self, trainer: Trainer, pl_module: LightningModule, result: EvaluationResult) -> None:
        """Write the class-wise CSV/PNG report and log it to W&B (rank 0)."""
        if not trainer.is_global_zero:
            return
        if not result.metrics:
            log.warning("ClasswiseReportCallback: the evaluation has no metrics; no class-wise report written")
            return
        report = parse_results(result.metrics)
        if infer_num_classes(report, result.class_names) is None:
            log.warning("ClasswiseReportCallback: no class-wise metric in the results; nothing to report")
            return
        out_dir = Path(self.output_dir or result.output_dir) / self.subdir
        self.written = write_report(report, result.class_names, out_dir, embeddings=result.embeddings, dpi=self.dpi)
        if self.log_wandb:
            for logger in trainer.loggers:
                if is_wandb_logger(logger):
                    log_to_wandb(logger.experiment, report, result.class_names, self.written, result.per_sample)


def write_report(
    report: Report,
    class_names: Sequence[str],
    out_dir: Path,
    embeddings: Mapping[str, Mapping[str, Any]] | None = None,
    dpi: int = 100,
) -> list[Path]:
    """Write the CSV and PNG files of the class-wise report; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    k = len(class_names)
    written: list[Path] = []

    table = per_class_table(report, class_names)
    table.to_csv(out_dir / "per_class.csv", index=False)
    written.append(out_dir / "per_class.csv")

    scalars = [
        {"probe": p, "metric": m, "value": v}
        for p, ms in report.items()
        for m, v in ms.items()
        if isinstance(v, float)
    ]
    pd.DataFrame(scalars, columns=["probe", "metric", "value"]).to_csv(out_dir / "scalars.csv", index=False)
    written.append(out_dir / "scalars.csv")

    for probe, metrics in report.items():
        stem = _safe(probe)
        for metric, value in metrics.items():
            if metric != "error_flow" and _is_matrix(value, k):  # a flow list can be [K, 3] with K = 3
                path = out_dir / f"{stem}__{metric}.csv"
                pd.DataFrame(value, index=list(class_names), columns=list(class_names)).to_csv(path)
                written.append(path)
        flow = metrics.get("error_flow")
        if isinstance(flow, np.ndarray) and (flow.size == 0 or (flow.ndim == 2 and flow.shape[1] == 3)):
            rows = flow.reshape(-1, 3).astype(int)
            path = out_dir / f"{stem}__error_flow.csv"
            pd.DataFrame(
                {
                    "source": rows[:, 0],
                    "target": rows[:, 1],
                    "count": rows[:, 2],
                    "source_name": [class_names[i] for i in rows[:, 0]],
                    "target_name": [class_names[i] for i in rows[:, 1]],
                }
            ).to_csv(path, index=False)
            written.append(path)

        figures = []
        if _is_matrix(metrics.get("confusion"), k):
            norm = metrics.get("confusion_normalized")
            norm = norm if _is_matrix(norm, k) else None
            figures.append(
                ("confusion", confusion_heatmap(metrics["confusion"], class_names, norm, title=probe))
            )
        if _is_vector(metrics.get("cfps"), k) and _is_vector(metrics.get("cfns"), k):
            fig = false_score_bars(
                metrics["cfps"], metrics["cfns"], class_names, title=f"{probe}: CFPS / CFNS"
            )
            figures.append(("false_scores", fig))
        if _is_matrix(metrics.get("targeted_success"), k):
            fig = targeted_success_heatmap(
                metrics["targeted_success"], class_names, title=f"{probe}: targeted"
            )
            figures.append(("targeted_success", fig))
        emb = (embeddings or {}).get(probe)
        if emb is not None:
            fig = embedding_scatter(
                emb["clean"],
                emb["attacked"],
                emb["labels"],
                class_names,
                emb.get("attacked_labels"),
                title=probe,
            )
            figures.append(("embedding", fig))
        for kind, fig in figures:
            written.append(save_figure(fig, out_dir / f"{stem}__{kind}.png", dpi=dpi))

    accuracies = {
        p: m["classwise_accuracy"] for p, m in report.items() if _is_vector(m.get("classwise_accuracy"), k)
    }
    if accuracies:
        fig = classwise_accuracy_bars(accuracies, class_names)
        written.append(save_figure(fig, out_dir / "classwise_accuracy.png", dpi=dpi))
    return written


def _is_vector(value: Any, k: int) -> bool:
    return isinstance(value, np.ndarray) and value.shape == (k,)


def _is_matrix(value: Any, k: int) -> bool:
    return isinstance(value, np.ndarray) and value.shape == (k, k)


def log_to_wandb(
    run: Any,
    report: Report,
    class_names: Sequence[str],
    files: Sequence[Path],
    per_sample: pd.DataFrame | None = None,
) -> None:
    """Log the report to a W&B run: per-class table, PNGs as images, CFPS/CFNS bar charts and,
    with per-sample predictions, W&B's interactive confusion-matrix chart per probe."""
    import wandb

    k = len(class_names)
    payload: dict[str, Any] = {
        "classwise/per_class": wandb.Table(dataframe=per_class_table(report, class_names))
    }
    for path in files:
        if path.suffix == ".png":
            payload[f"classwise/{path.stem}"] = wandb.Image(str(path), caption=path.stem)
    for probe, metrics in report.items():
        for score in ("cfps", "cfns"):
            if _is_vector(metrics.get(score), k):
                rows = [[name, _finite(v)] for name, v in zip(class_names, metrics[score], strict=True)]
                table = wandb.Table(data=rows, columns=["class", score])
                payload[f"classwise/{probe}/{score}_bar"] = wandb.plot.bar(
                    table, "class", score, title=f"{probe}: {score.upper()}"
                )
    if per_sample is not None and "label" in per_sample.columns:
        labels = per_sample["label"].astype(int).tolist()
        for column in per_sample.columns:
            if column.endswith("/pred"):
                probe = column[: -len("/pred")]
                payload[f"classwise/{probe}/confusion_chart"] = wandb.plot.confusion_matrix(
                    y_true=labels,
                    preds=per_sample[column].astype(int).tolist(),
                    class_names=list(class_names),
                    title=f"{probe}: confusion",
                )
    run.log(payload)


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
