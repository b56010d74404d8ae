"""The evaluation's metrics by their definitions, in numpy, from a run's ``per_sample.csv``: an independent
reference for end-to-end runs (tests/tasks/test_evaluate.py) and for results files of earlier versions
(tests/report/test_legacy_keys.py), so that no expected number comes from a run of the code itself."""

from __future__ import annotations

import numpy as np
import pandas as pd


def reference_metrics(table: pd.DataFrame, probes: tuple[str, ...], worst: tuple[str, ...],
                      num_classes: int = 10) -> dict[str, object]:
    """Every metric of ``probes`` (current names) from the per-sample predictions, by the definitions in
    numpy (docs/metrics.md, Medi et al.): accuracy and errors, flips against the clean prediction, the
    confusion matrix and its row-normalised form, CFPS/CFNS (share of all errors predicted as / coming from
    a class; 0 without errors), per-class rates, the per-sample noise accuracy's summary (population std,
    linear quantiles), and the pointwise worst case over ``worst`` (robust only if every probe held)."""
    y, clean = table["label"].to_numpy(), table["clean/pred"].to_numpy()
    classes = range(num_classes)
    out: dict[str, object] = {}

    def per_class(prefix: str, hits: np.ndarray) -> None:
        for k in classes:
            out[f"{prefix}/{k}"] = float(hits[y == k].mean()) if (y == k).any() else float("nan")

    for probe in probes:
        pred = table[f"{probe}/pred"].to_numpy()
        wrong = pred != y
        confusion = np.array([[np.sum((y == i) & (pred == j)) for j in classes] for i in classes])
        out[f"{probe}/accuracy"] = float(np.mean(~wrong))
        out[f"{probe}/num_errors"] = float(wrong.sum())
        out[f"{probe}/flip_rate"] = float(np.mean(pred != clean))
        out[f"{probe}/confusion"] = confusion.tolist()
        out[f"{probe}/confusion_normalized"] = (confusion / confusion.sum(1, keepdims=True)).tolist()
        per_class(f"{probe}/classwise_accuracy", ~wrong)
        per_class(f"{probe}/classwise_flip_rate", pred != clean)
        for k in classes:
            out[f"{probe}/cfps/{k}"] = float(np.sum(wrong & (pred == k)) / wrong.sum()) if wrong.any() else 0.0
            out[f"{probe}/cfns/{k}"] = float(np.sum(wrong & (y == k)) / wrong.sum()) if wrong.any() else 0.0
        if f"{probe}/noise_accuracy" in table:
            noise = table[f"{probe}/noise_accuracy"].to_numpy(float)
            out[f"{probe}/noise_accuracy"] = float(noise.mean())
            out[f"{probe}/noise_accuracy_std"] = float(noise.std())
            for name, q in (("min", 0), ("q25", 0.25), ("median", 0.5), ("q75", 0.75), ("max", 1)):
                out[f"{probe}/noise_accuracy_{name}"] = float(np.quantile(noise, q))
            per_class(f"{probe}/classwise_noise_accuracy", noise)
    robust = np.all([table[f"{probe}/pred"].to_numpy() == y for probe in worst], axis=0)
    out["worst_case/accuracy"] = float(robust.mean())
    per_class("worst_case/classwise_accuracy", robust)
    return out
