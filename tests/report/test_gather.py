"""gather/incomplete/matrices/wide on hand-written job dirs with known contents."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from robustlens.report import gather, gather_jobs, incomplete, matrices, split_key, wide, write_tidy
from robustlens.utils.io import write_json_atomic
from robustlens.utils.results_file import write_results_atomic
from tests.results_files import make_results, write_job


@pytest.fixture
def sweep(tmp_path):
    write_job(tmp_path / "0", {"clean/accuracy": 0.5, "pgd/classwise_accuracy/1": 0.25,
                               "pgd/confusion": [[3, 1], [0, 4]], "clean/accuracy/ci_low": 0.3,
                               "clean/accuracy/ci_high": 0.7, "pgd/classwise_accuracy/ci_low/1": 0.1,
                               "pgd/classwise_accuracy/ci_high/1": 0.5}, sweep_params={"attack.eps": 0.1})
    write_job(tmp_path / "1", {"clean/accuracy": 0.75, "pgd/accuracy": None},
              sweep_params={"attack.eps": 0.2})
    write_job(tmp_path / "2", {}, status="failed", error=ValueError("bad eps"),
              sweep_params={"attack.eps": 0.3})
    (tmp_path / "3" / ".hydra").mkdir(parents=True)  # killed before writing results
    (tmp_path / "3" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["attack.eps=0.4"]))
    (tmp_path / "4").mkdir()
    (tmp_path / "4" / "results.json").write_text("{")  # torn file
    (tmp_path / "multirun.yaml").write_text("{}")
    return tmp_path


def test_split_key():
    assert split_key("clean/accuracy") == ("clean", "accuracy", pytest.approx(math.nan, nan_ok=True))
    assert split_key("pgd/classwise_accuracy/3") == ("pgd", "classwise_accuracy", 3.0)
    assert split_key("latent/lags/q25") == ("latent", "lags/q25", pytest.approx(math.nan, nan_ok=True))
    with pytest.raises(ValueError, match="<probe>/<metric>"):
        split_key("accuracy")


def test_gather_exact_tidy_rows(sweep):
    """Interval bounds (``<probe>/<metric>/ci_low[/<class>]``) sit beside their value, not in rows of their own."""
    df = gather(sweep)
    expected = pd.DataFrame(
        [
            ["0", 0.1, "clean", "accuracy", np.nan, 0.5, 0.3, 0.7],
            ["0", 0.1, "pgd", "classwise_accuracy", 1.0, 0.25, 0.1, 0.5],
            ["1", 0.2, "clean", "accuracy", np.nan, 0.75, np.nan, np.nan],
            ["1", 0.2, "pgd", "accuracy", np.nan, np.nan, np.nan, np.nan],
        ],
        columns=["job", "attack.eps", "probe", "metric", "class", "value", "ci_low", "ci_high"],
    )
    pd.testing.assert_frame_equal(df.reset_index(drop=True), expected, check_dtype=False)


def test_incomplete_lists_failed_missing_corrupt_with_reason(sweep):
    bad = incomplete(sweep).set_index("job")
    assert list(bad.index) == ["2", "3", "4"]
    assert bad.loc["2", "status"] == "failed" and bad.loc["2", "error"] == "ValueError: bad eps"
    assert bad.loc["3", "status"] == "missing" and bad.loc["3", "attack.eps"] == 0.4  # from overrides.yaml
    assert bad.loc["4", "status"] == "corrupt" and "corrupt" in bad.loc["4", "error"]


def test_matrices_are_kept_apart(sweep):
    mats = matrices(sweep)
    assert list(mats) == [("0", "pgd/confusion")]
    np.testing.assert_array_equal(mats[("0", "pgd/confusion")], [[3, 1], [0, 4]])


def test_params_fall_back_to_hydra_overrides(tmp_path):
    payload = make_results({"clean/accuracy": 1.0})
    payload["job"]["sweep_params"] = {}
    payload["job"]["overrides"] = []
    write_results_atomic(tmp_path / "0", payload)
    (tmp_path / "0" / ".hydra").mkdir()
    (tmp_path / "0" / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump(["training.mode=pgd_at", "+seed=3", "~logger"]))
    df = gather(tmp_path)
    assert df.loc[0, "training.mode"] == "pgd_at" and df.loc[0, "seed"] == 3
    assert "logger" not in df.columns


def test_nested_sweeps_and_single_run(tmp_path):
    write_job(tmp_path / "a" / "0", {"clean/accuracy": 0.1}, sweep_params={"x": 1})
    write_job(tmp_path / "b" / "0", {"clean/accuracy": 0.2}, sweep_params={"x": 2})
    write_job(tmp_path / "b" / "10", {"clean/accuracy": 0.3}, sweep_params={"x": 3})
    write_job(tmp_path / "b" / "2", {"clean/accuracy": 0.4}, sweep_params={"x": 4})
    assert list(gather(tmp_path)["job"]) == ["a/0", "b/0", "b/2", "b/10"]  # natural order
    single = gather(tmp_path / "a" / "0")
    assert list(single["job"]) == ["."] and list(single["value"]) == [0.1]
    records = gather_jobs(tmp_path)
    assert [r.status for r in records] == ["complete"] * 4


def test_gather_skips_report_dir_and_rejects_missing_dir(tmp_path):
    write_job(tmp_path / "0", {"clean/accuracy": 0.1})
    write_json_atomic(tmp_path / "report" / "results.json", {"junk": 1})
    assert list(gather(tmp_path)["job"]) == ["0"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        gather(tmp_path / "nope")


def test_wide_pivots_and_averages(tmp_path):
    for i, (eps, seed, acc) in enumerate([(0.1, 0, 0.6), (0.1, 1, 0.8), (0.2, 0, 0.3)]):
        write_job(tmp_path / str(i), {"pgd/accuracy": acc, "pgd/classwise_accuracy/0": acc / 2},
                  sweep_params={"attack.eps": eps, "seed": seed})
    df = gather(tmp_path)
    table = wide(df, index=["attack.eps"])
    assert table.loc[0.1, ("pgd", "accuracy", "all")] == pytest.approx(0.7)
    assert table.loc[0.2, ("pgd", "classwise_accuracy", "0")] == pytest.approx(0.15)
    full = wide(df)
    assert full.shape == (3, 2)  # one row per job, no cartesian product of params
    with pytest.raises(KeyError, match=r"training\.mode"):
        wide(df, index=["training.mode"])


def test_write_tidy(tmp_path, sweep):
    df = gather(sweep)
    written = write_tidy(df, tmp_path / "out")
    assert written[0].name == "results_tidy.csv"
    pd.testing.assert_frame_equal(pd.read_csv(written[0], dtype={"job": str}), df, check_dtype=False)
    assert written[1].suffix in (".pkl", ".parquet")
    back = pd.read_pickle(written[1]) if written[1].suffix == ".pkl" else pd.read_parquet(written[1])
    pd.testing.assert_frame_equal(back, df)


def test_a_partial_job_is_left_out_of_the_table_though_it_has_metrics(tmp_path):
    """A job killed between probes has status ``partial`` and the metrics of its finished probes; the
    table holds complete jobs only (a partial row would sit beside complete ones as if comparable)."""
    write_job(tmp_path / "0", {"clean/accuracy": 0.5}, sweep_params={"attack.eps": 0.1})
    write_job(tmp_path / "1", {"clean/accuracy": 0.9}, status="partial", sweep_params={"attack.eps": 0.2})
    assert list(gather(tmp_path)["job"]) == ["0"]
    assert list(incomplete(tmp_path)["job"]) == ["1"]
