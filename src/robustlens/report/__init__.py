"""Reports from results files: gather a run or multirun into a tidy table, build Markdown /
LaTeX tables, plots, and compare with expected (paper) tables.

Names are imported lazily: jobs that only write results (the train and evaluate tasks) should
not pay for importing pandas and matplotlib at start-up.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ComparisonResult": "comparison",
    "compare": "comparison",
    "JobRecord": "collect",
    "gather": "collect",
    "gather_jobs": "collect",
    "incomplete": "collect",
    "matrices": "collect",
    "param_columns": "collect",
    "split_key": "collect",
    "wide": "collect",
    "write_tidy": "collect",
    "Table": "tables",
    "TableSpec": "tables",
    "build_table": "tables",
    "to_latex": "tables",
    "to_markdown": "tables",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'robustlens.report' has no attribute {name!r}")
    return getattr(importlib.import_module(f"robustlens.report.{_EXPORTS[name]}"), name)
