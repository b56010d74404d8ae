"""Mutants of ``robustlens report``: gathering results files into the tidy table and rendering it."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_R = "src/robustlens/report/"

MUTANTS: list[Mutant] = [
    Mutant("report_class_key_kept_in_metric", "report", _R + "collect.py",
           "        cls = float(parts[-1])\n        parts = parts[:-1]", "        cls = float(parts[-1])",
           ("tests/report/test_gather.py::test_split_key",)),
    Mutant("report_partial_jobs_gathered", "report", _R + "collect.py",
           'records = [r for r in _records_of(source) if r.status == "complete"]',
           "records = list(_records_of(source))",
           ("tests/report/test_gather.py::test_a_partial_job_is_left_out_of_the_table_though_it_has_metrics",)),
    Mutant("report_scale_ignored", "report", _R + "tables.py",
           'text = f"{mean * spec.scale:.{d}f}"', 'text = f"{mean:.{d}f}"',
           ("tests/report/test_tables_compare_plots.py::test_latex_is_escaped_and_scaled",)),
    Mutant("report_std_for_single_job", "report", _R + "tables.py",
           'if spec.aggregate == "mean_std" and count > 1:', 'if spec.aggregate == "mean_std" and count > 0:',
           ("tests/report/test_tables_compare_plots.py::test_table_mean_std_hand_computed",)),
]
