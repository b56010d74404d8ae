"""Old results stay readable: results.json files written before the key convention are reported
under the current names (robustlens.report.legacy_keys), and their numbers are what the current
code computes for the same evaluation.

The stored file (tests/report/data/) is the results.json of commit 0c556ea for Paper A's published
plain MNIST model under `evaluation=conventional` (AutoAttack off, 100 test images, seed 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from robustlens.report.collect import gather
from robustlens.report.legacy_keys import current_key, current_metrics
from tests.metrics.numpy_reference import reference_metrics

STORED = Path(__file__).parent / "data" / "results_0c556ea_conventional_plain.json"
#: the probes the slow test re-runs (the two severity searches take ~25 min on 2 CPU cores)
RERUN_PROBES = ("clean", "noise", "pgd_linf")


def stored() -> dict:
    return json.loads(STORED.read_text())


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("severity_l2/severity_mean", "severity_l2/severity"),
        ("fmn/norm_mean", "fmn/norm"),
        ("clean/silhouette_mean", "clean/silhouette"),
        ("clean/silhouette/3", "clean/classwise_silhouette/3"),
        ("val/acc", "val/accuracy"),
        ("train/acc", "train/accuracy"),
        ("val/acc/7", "val/classwise_accuracy/7"),
        # current names are left alone
        ("severity_l2/severity_std", "severity_l2/severity_std"),
        ("clean/classwise_accuracy/3", "clean/classwise_accuracy/3"),
        ("clean/silhouette", "clean/silhouette"),
        ("val/accuracy", "val/accuracy"),
        ("noise/noise_accuracy", "noise/noise_accuracy"),
    ],
)
def test_old_keys_map_to_current_ones(old: str, new: str) -> None:
    assert current_key(old) == new
    assert current_key(new) == new  # idempotent: a current file is unchanged


def test_a_key_present_under_both_names_keeps_the_current_value() -> None:
    assert current_metrics({"p/severity_mean": 1.0, "p/severity": 2.0}) == {"p/severity": 2.0}


def test_the_stored_old_file_reads_under_current_names(tmp_path: Path) -> None:
    old = stored()["metrics"]
    assert "severity_l2/severity_mean" in old and "severity_l2/severity" not in old  # really the old format
    job = tmp_path / "job"
    job.mkdir()
    (job / "results.json").write_text(json.dumps({
        "schema": "robustlens.results/1", "status": "complete", "task": "evaluate", "error": None,
        "job": {"overrides": stored()["overrides"]}, "metrics": old, "probes": stored()["probes"],
    }))
    tidy = gather(tmp_path)
    keys = set(tidy["probe"] + "/" + tidy["metric"])
    assert {"severity_l2/severity", "severity_linf/severity", "severity_l2/severity_q75"} <= keys
    assert not any(k.endswith("_mean") for k in keys)
    row = tidy[(tidy["probe"] == "severity_l2") & (tidy["metric"] == "severity")]
    assert row["value"].item() == old["severity_l2/severity_mean"]


def same_number(value: object, expected: object) -> bool:
    """Equal to the reference, or to its float32 rounding (the old code stored float32 rates)."""
    a, b = np.asarray(value, float), np.asarray(expected, float)
    return a.shape == b.shape and bool(
        (np.isclose(a, b, rtol=0, atol=1e-12) | (b.astype(np.float32).astype(float) == a) | (np.isnan(a) & np.isnan(b))).all()
    )


@pytest.mark.slow
def test_same_evaluation_gives_the_same_numbers_under_the_new_names(tmp_path: Path, shared: Path) -> None:
    """Re-run the stored evaluation (its fast probes); compute every metric of those probes from the new
    run's per-sample predictions with the numpy definitions of tests/metrics/numpy_reference.py; then the stored old file (read under the
    current names) and the new results must both hold those values. No number here comes from an earlier
    run of the code: the stored file is what is checked, not what is checked against."""
    from robustlens.tasks.common import task_wrapper
    from robustlens.tasks.evaluate import evaluate
    from tests.hydra_utils import compose_config

    record = stored()
    dropped = [f"evaluation.probes.{p}=null" for p in record["probes"] if p not in RERUN_PROBES]
    overrides = [*record["overrides"], *dropped, f"paths.shared_dir={shared}", f"paths.data_dir={shared / 'data'}",
                 "extras.print_config=false", "callbacks=none"]
    new = task_wrapper(evaluate)(compose_config("evaluate", overrides, tmp_path))["metrics"]
    table = pd.read_csv(tmp_path / "per_sample.csv")
    assert len(table) == 100 and table["index"].is_unique
    reference = reference_metrics(table, RERUN_PROBES, worst=("pgd_linf",))  # noise is no attack
    old = {current_key(key): value for key, value in record["metrics"].items()
           if key.split("/")[0] in (*RERUN_PROBES, "worst_case")}
    assert old.keys() == reference.keys(), sorted(old.keys() ^ reference.keys())
    for key, expected in reference.items():
        assert key in new, f"{key} is missing from the new results"
        assert same_number(new[key], expected), f"{key}: new run {new[key]}, numpy reference {expected}"
        assert same_number(old[key], expected), f"{key}: stored {old[key]}, numpy reference {expected}"
    assert len(reference) > 100
    # the new rates are exact in float64 (56 of 100 is 0.56), where the old code stored float32(0.56)
    assert new["pgd_linf/accuracy"] == reference["pgd_linf/accuracy"]
