"""The sweep summary (SweepSummaryCallback) on an 80-column console: nothing cut to "…"."""

from __future__ import annotations

from pathlib import Path

from robustlens.callbacks.hydra_callbacks import SweepSummaryCallback, sweep_summary
from tests.console_text import assert_nothing_cut, column_names, render
from tests.results_files import write_job

KEY = "pgd_linf_targeted_all/worst_class_accuracy"
MODELS = ["zoo_carmon2019_unlabeled", "small_cnn_pgd_at", "wide_resnet_28_10_awp"]
ERROR = "CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 79.15 GiB total capacity)"


def sweep(tmp_path: Path, failed: bool) -> Path:
    for i, model in enumerate(MODELS):
        if failed and i == 2:
            write_job(tmp_path / str(i), {}, status="failed", error=RuntimeError(ERROR),
                      sweep_params={"classifier": model, "training.mode": "trades_beta6", "seed": 0})
        else:
            write_job(tmp_path / str(i), {KEY: 0.125 * (i + 1), "clean/accuracy": 0.9},
                      sweep_params={"classifier": model, "training.mode": "trades_beta6", "seed": i})
    return tmp_path


def test_job_table_at_80_columns_shows_every_value_and_the_whole_error(tmp_path: Path) -> None:
    callback = SweepSummaryCallback(key_metric=KEY)
    tables = callback._rich(sweep_summary(sweep(tmp_path, failed=True), KEY), tmp_path, width=80)
    text = render(tables)
    assert_nothing_cut(text, 80, names=[KEY, *MODELS], cells=["0.125", "0.25", "failed", *ERROR.split()])
    # what varies is shown (classifier, seed), what does not (training.mode) stays in the CSV
    assert {"job", "classifier", "seed", "status", KEY, "error"} == set(column_names(tables))
    assert "beta6" not in text and "training" not in text
    assert "2 complete, 1 failed" in text


def test_without_failures_there_is_no_error_column(tmp_path: Path) -> None:
    callback = SweepSummaryCallback(key_metric=KEY)
    tables = callback._rich(sweep_summary(sweep(tmp_path, failed=False), KEY), tmp_path, width=80)
    assert len(tables) == 1 and "error" not in column_names(tables)
    assert_nothing_cut(render(tables), 80, names=[KEY, *MODELS], cells=["0.375"])


def test_null_and_constant_overrides_get_no_column(tmp_path: Path) -> None:
    """``evaluation.probes.clean=null`` in every job, a constant seed, and one job alone: no empty columns."""
    for i, eps in enumerate([0.1, 0.2]):
        write_job(tmp_path / str(i), {KEY: 0.5, "clean/accuracy": 0.9},
                  sweep_params={"evaluation.probes.clean": None, "eps": eps, "seed": 0})
    tables = SweepSummaryCallback(key_metric=KEY)._rich(sweep_summary(tmp_path, KEY), tmp_path, width=80)
    assert {"job", "eps", "status", KEY} == set(column_names(tables))
    lone = tmp_path / "lone"
    write_job(lone / "0", {KEY: 0.5}, sweep_params={"evaluation.probes.clean": None, "eps": 0.1})
    tables = SweepSummaryCallback(key_metric=KEY)._rich(sweep_summary(lone, KEY), lone, width=80)
    assert {"job", "status", KEY} == set(column_names(tables))
