"""The console summary fits an 80-column terminal (or a SLURM log) without cutting a name."""

from __future__ import annotations

import re

from rich.console import Console

from robustlens.evaluation.console import print_summary, summary_metrics

PROBES = ["clean", "pgd_linf", "pgd_linf_targeted_all", "autoattack", "severity_l2", "lags"]
NAMES = ["accuracy", "classwise_accuracy_spread", "worst_class_accuracy", "flip_rate", "cfps", "severity",
         "out_of_range_fraction", "standard_accuracy"]


def metrics() -> dict:
    values = {f"{p}/{m}": 0.123456 * (i + 1) / (j + 1) for i, p in enumerate(PROBES) for j, m in enumerate(NAMES)}
    values.update({"clean/accuracy_std": 0.1, "clean/classwise_accuracy/3": 0.5, "clean/num_errors": 7.0,
                   "clean/confusion": [[1, 0], [0, 1]], "worst_case/accuracy": 0.25})
    return values


def render(width: int) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    print_summary(metrics(), PROBES, num_classes=10, console=console)
    return console.export_text()


def test_summary_at_80_columns_cuts_nothing_and_shows_every_metric() -> None:
    text = render(80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in text
    words = set(re.findall(r"[a-z0-9_]+", text))
    for name in NAMES:  # every header, wrapped at its underscores
        assert set(name.split("_")) <= words, name
    for probe in [*PROBES, "worst_case"]:
        assert probe in words, probe
    assert "0.1235" in text and "0.25" in text


def test_statistics_counts_and_per_class_values_stay_in_the_files() -> None:
    shown = summary_metrics(metrics())
    assert shown == NAMES
    assert "accuracy_std" not in shown and "num_errors" not in shown


def test_a_wide_console_keeps_one_table() -> None:
    assert render(400).count("robustlens evaluation") == 1
    assert render(80).count("robustlens evaluation") > 1
