"""``robustlens report <dir> table=compare``: paired differences against a reference row, with
p-values from scipy's tests on the per-sample files, Holm-adjusted; refused where jobs do not share
their samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from scipy import stats

from robustlens.report.paired import SamplesNotShared
from robustlens.tasks.report import run_report
from tests.results_files import write_job

CONF = Path(__file__).resolve().parents[2] / "conf"
N = 80
DATA = {"_target_": "robustlens.data.MNISTDataModule", "test_subset": 600, "seed": 0, "data_dir": "/a",
        "batch_size": 128}


def per_sample(seed: int, accuracy: float, norm_scale: float) -> pd.DataFrame:
    """A two-probe per-sample table on samples 100..179 of 4 classes (the labels the same in every job)."""
    labels = np.random.default_rng(0).integers(0, 4, N)
    rng = np.random.default_rng(seed)
    right = rng.random(N) < accuracy
    return pd.DataFrame({
        "index": np.arange(100, 100 + N), "label": labels,
        "clean/pred": np.where(right, labels, (labels + 1) % 4),
        "lags/pred": labels, "lags/norm": rng.exponential(norm_scale, N),
        "lags/success": rng.random(N) < 0.7, "lags/image_l2s": rng.exponential(norm_scale, N),
    })


def write(job_dir: Path, training: str, table: pd.DataFrame, data: dict | None = None, seed: int = 0) -> None:
    write_job(job_dir, {"clean/accuracy": 0.5}, sweep_params={"training": training}, seed=seed,
              config={"data": data or DATA, "seed": seed})
    table.to_csv(job_dir / "per_sample.csv", index=False)


def report(run_dir: Path, *extra: str) -> dict:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("report", overrides=[f"run_dir={run_dir}", "table=compare", "+table.reference.training=standard",
                                           "plots=[]", *extra])
    return run_report(cfg)


def test_compare_table_against_scipy(tmp_path: Path) -> None:
    ref, robust = per_sample(1, 0.9, 1.0), per_sample(2, 0.6, 2.0)
    write(tmp_path / "0", "standard", ref)
    write(tmp_path / "1", "pgd_at", robust)
    report(tmp_path)
    out = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert set(out["probe"]) == {"clean", "lags"} and (out["job"].astype(str) == "1").all()
    row = out.set_index(["probe", "metric"])
    # accuracy: exact McNemar on the discordant pairs
    a, b = ref["clean/pred"] == ref["label"], robust["clean/pred"] == robust["label"]
    only_ref, only_robust = int((a & ~b).sum()), int((~a & b).sum())
    acc = row.loc[("clean", "accuracy")]
    assert acc["difference"] == pytest.approx(b.mean() - a.mean())
    assert acc["p_value"] == pytest.approx(stats.binomtest(only_robust, only_ref + only_robust).pvalue)
    assert acc["test"] == "mcnemar" and acc["ci_low"] < acc["difference"] < acc["ci_high"]
    # severity: paired t-test on the per-sample norms
    sev = row.loc[("lags", "severity")]
    assert sev["p_value"] == pytest.approx(stats.ttest_rel(robust["lags/norm"], ref["lags/norm"]).pvalue)
    assert sev["difference"] == pytest.approx(robust["lags/norm"].mean() - ref["lags/norm"].mean())
    # a probe that never errs has equal worst classes: no difference, p = 1
    assert row.loc[("lags", "accuracy"), "p_value"] == 1.0
    # Holm over the whole table, and the marks
    p = out["p_value"].to_numpy()
    order = np.argsort(p)
    assert out["p_holm"].to_numpy()[order[0]] == pytest.approx(min(1, p[order[0]] * len(p)))
    assert (out["significant"] == (out["p_holm"] < 0.05)).all() and out["significant"].any()
    text = (tmp_path / "report" / "compare.md").read_text()
    assert " *" in text and "Holm" in text and "training=standard" in text


def test_wilcoxon_on_request(tmp_path: Path) -> None:
    ref, robust = per_sample(1, 0.9, 1.0), per_sample(2, 0.6, 2.0)
    write(tmp_path / "0", "standard", ref)
    write(tmp_path / "1", "pgd_at", robust)
    report(tmp_path, "table.norm_test=wilcoxon", "table.metrics=[severity]")
    out = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert list(out["metric"]) == ["severity"]
    assert out.loc[0, "p_value"] == pytest.approx(stats.wilcoxon(robust["lags/norm"], ref["lags/norm"]).pvalue)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"data": {**DATA, "test_subset": 1000}}, r"data\.test_subset differs \(600 vs 1000\)"),
        ({"seed": 3}, r"seed differs \(0 vs 3\)"),
        ({"table": per_sample(2, 0.6, 2.0).assign(index=lambda d: d["index"] + 1)},
         "probe clean evaluated 80 vs 80 samples with different indices"),
    ],
    ids=["subset", "seed", "indices"],
)
def test_jobs_that_do_not_share_samples_are_refused(tmp_path: Path, change: dict, reason: str) -> None:
    write(tmp_path / "0", "standard", per_sample(1, 0.9, 1.0))
    write(tmp_path / "1", "pgd_at", change.get("table", per_sample(2, 0.6, 2.0)), data=change.get("data"),
          seed=change.get("seed", 0))
    with pytest.raises(SamplesNotShared, match=f"cannot compare job 1 with reference 0: they do not share samples: "
                                               f"{reason}"):
        report(tmp_path)


def test_batch_size_and_data_dir_do_not_matter(tmp_path: Path) -> None:
    write(tmp_path / "0", "standard", per_sample(1, 0.9, 1.0))
    write(tmp_path / "1", "pgd_at", per_sample(2, 0.6, 2.0), data={**DATA, "batch_size": 7, "data_dir": "/b"})
    report(tmp_path)
    assert (tmp_path / "report" / "compare.csv").is_file()


def test_a_missing_reference_is_named(tmp_path: Path) -> None:
    write(tmp_path / "0", "noise", per_sample(1, 0.9, 1.0))
    write(tmp_path / "1", "pgd_at", per_sample(2, 0.6, 2.0))
    with pytest.raises(ValueError, match=r"no job has \{'training': 'standard'\}"):
        report(tmp_path)


def test_statistics_of_found_perturbations_compare_the_samples_found_in_both(tmp_path: Path) -> None:
    ref, robust = per_sample(1, 0.9, 1.0), per_sample(2, 0.6, 2.0)
    write(tmp_path / "0", "standard", ref)
    write(tmp_path / "1", "pgd_at", robust)
    report(tmp_path, "table.metrics=[lags/image_l2s]")
    out = pd.read_csv(tmp_path / "report" / "compare.csv")
    assert list(out["probe"] + "/" + out["metric"]) == ["lags/image_l2s"]  # one probe only
    both = ref["lags/success"] & robust["lags/success"]
    assert out.loc[0, "n"] == both.sum() < N
    want = stats.ttest_rel(robust["lags/image_l2s"][both], ref["lags/image_l2s"][both]).pvalue
    assert out.loc[0, "p_value"] == pytest.approx(want)
