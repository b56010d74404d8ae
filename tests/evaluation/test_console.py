"""The console summary fits an 80-column terminal (or a SLURM log) without cutting a name."""

from __future__ import annotations

from robustlens.evaluation.console import print_summary, summary_metrics, summary_tables
from tests.console_text import assert_nothing_cut, column_names, recording_console

PROBES = ["clean", "pgd_linf", "pgd_linf_targeted_all", "autoattack", "severity_l2", "lags"]
NAMES = ["accuracy", "classwise_accuracy_spread", "worst_class_accuracy", "flip_rate", "cfps", "severity",
         "out_of_range_fraction", "standard_accuracy"]


def metrics() -> dict:
    values = {f"{p}/{m}": 0.123456 * (i + 1) / (j + 1) for i, p in enumerate(PROBES) for j, m in enumerate(NAMES)}
    values.update({"clean/accuracy_std": 0.1, "clean/classwise_accuracy/3": 0.5, "clean/num_errors": 7.0,
                   "clean/confusion": [[1, 0], [0, 1]], "worst_case/accuracy": 0.25})
    return values


def render(width: int) -> str:
    console = recording_console(width)
    print_summary(metrics(), PROBES, num_classes=10, console=console)
    return console.export_text()


def test_summary_at_80_columns_cuts_nothing_and_shows_every_metric() -> None:
    text = render(80)
    assert_nothing_cut(text, 80, names=[*PROBES, "worst_case"], cells=["0.1235", "0.25"])
    tables = summary_tables(metrics(), PROBES, num_classes=10, width=80)
    shown = column_names(tables)
    assert [n for n in shown if n != "probe"] == NAMES  # every header once, whole, in order
    assert shown.count("probe") == len(tables)  # the probe column repeats in every table


def test_a_probe_without_values_in_a_table_is_left_out_of_it() -> None:
    text = render(80)
    assert text.count("worst_case") == 1  # only in the table with accuracy


def test_statistics_counts_and_per_class_values_stay_in_the_files() -> None:
    shown = summary_metrics(metrics())
    assert shown == NAMES
    assert "accuracy_std" not in shown and "num_errors" not in shown


def test_a_wide_console_keeps_one_table() -> None:
    assert render(400).count("robustlens evaluation") == 1
    assert render(80).count("robustlens evaluation") > 1


def test_a_value_with_an_interval_reads_value_plus_minus_half_width() -> None:
    values = metrics()
    values.update({"clean/accuracy": 0.4583, "clean/accuracy/ci_low": 0.418, "clean/accuracy/ci_high": 0.498,
                   "lags/severity": 12.34, "lags/severity/ci_low": 9.1, "lags/severity/ci_high": 15.5,
                   "clean/classwise_accuracy/ci_low/3": 0.2})
    console = recording_console(80)
    print_summary(values, PROBES, num_classes=10, console=console)
    text = console.export_text()
    assert "0.458 ± 0.040" in text and "12.3 ± 3.2" in text
    assert_nothing_cut(text, 80, names=[*PROBES, "worst_case"], cells=["0.458 ± 0.040", "12.3 ± 3.2"])
    assert summary_metrics(values) == NAMES  # the bounds are no columns of their own
