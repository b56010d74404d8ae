"""Old results stay readable: results.json files written before the key convention are reported
under the current names (robustlens.report.legacy_keys), and their numbers are what the current
code computes for the same evaluation.

The stored file (tests/report/data/) is the results.json of commit 0c556ea for Paper A's published
plain MNIST model under `evaluation=conventional` (AutoAttack off, 100 test images, seed 0).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from robustlens.report.collect import gather
from robustlens.report.legacy_keys import current_key, current_metrics

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


def same_number(new: object, old: object) -> bool:
    """Equal, or equal after the float32 round trip the old code made (the new rates are exact)."""
    if isinstance(old, list):
        if not isinstance(new, list):
            return False
        a, b = np.asarray(new, float), np.asarray(old, float)
        return a.shape == b.shape and bool(
            ((a == b) | (a.astype(np.float32).astype(float) == b) | (np.isnan(a) & np.isnan(b))).all()
        )
    if old is None or (isinstance(old, float) and math.isnan(old)):
        return new is None or (isinstance(new, float) and math.isnan(new))
    return new == old or float(np.float32(new)) == old


@pytest.mark.slow
def test_same_evaluation_gives_the_same_numbers_under_the_new_names(tmp_path: Path, shared: Path) -> None:
    """Re-run the stored evaluation (its fast probes) and compare every stored number of them."""
    from robustlens.tasks.common import task_wrapper
    from robustlens.tasks.evaluate import evaluate
    from tests.hydra_utils import compose_config

    record = stored()
    dropped = [f"evaluation.probes.{p}=null" for p in record["probes"] if p not in RERUN_PROBES]
    overrides = [*record["overrides"], *dropped, f"paths.shared_dir={shared}", f"paths.data_dir={shared / 'data'}",
                 "extras.print_config=false", "callbacks=none"]
    new = task_wrapper(evaluate)(compose_config("evaluate", overrides, tmp_path))["metrics"]
    compared = 0
    for key, old_value in record["metrics"].items():
        if key.split("/")[0] not in (*RERUN_PROBES, "worst_case"):
            continue
        name = current_key(key)
        assert name in new, f"{key} (now {name}) is missing from the new results"
        assert same_number(new[name], old_value), f"{key}: stored {old_value}, now {new[name]}"
        compared += 1
    assert compared > 100
    # the rates are exact now: 56 of 100 is stored as 0.56, where the old code stored float32(0.56)
    assert new["clean/accuracy"] * 100 == round(new["clean/accuracy"] * 100)
    assert new["pgd_linf/accuracy"] == 0.56 and record["metrics"]["pgd_linf/accuracy"] == 0.5600000023841858
