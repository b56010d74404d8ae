"""Reports from results files: gather a run or multirun into a tidy table, build Markdown /
LaTeX tables, plots, and compare with expected (paper) tables."""

from robustlens.report.compare import ComparisonResult, compare
from robustlens.report.gather import (
    JobRecord,
    gather,
    gather_jobs,
    incomplete,
    matrices,
    param_columns,
    split_key,
    wide,
    write_tidy,
)
from robustlens.report.tables import Table, TableSpec, build_table, to_latex, to_markdown

__all__ = [
    "ComparisonResult",
    "JobRecord",
    "Table",
    "TableSpec",
    "build_table",
    "compare",
    "gather",
    "gather_jobs",
    "incomplete",
    "matrices",
    "param_columns",
    "split_key",
    "to_latex",
    "to_markdown",
    "wide",
    "write_tidy",
]
