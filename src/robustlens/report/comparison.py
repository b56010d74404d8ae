"""Compare a built table with an expected table (a paper's numbers) cell by cell.

Why: experiments/ states "reproduced" only where every expected cell is matched within a
stated tolerance; anything else is shown with its difference, never rounded away.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from robustlens.report.tables import Table


@dataclass
class ComparisonResult:
    """Per-cell comparison: ``cells`` has ``row, column, expected, actual, diff, tolerance, status``.

    ``status`` is ``reproduced`` (|actual − expected| ≤ atol + rtol·|expected|), ``differs``,
    or ``missing`` (the expected cell has no value in the results).
    """

    cells: pd.DataFrame
    atol: float
    rtol: float

    @property
    def reproduced(self) -> bool:
        return bool(len(self.cells)) and bool((self.cells["status"] == "reproduced").all())

    def summary(self) -> str:
        counts = self.cells["status"].value_counts()
        head = (f"{int(counts.get('reproduced', 0))}/{len(self.cells)} cells reproduced "
                f"(atol={self.atol}, rtol={self.rtol})")
        bad = self.cells[self.cells["status"] != "reproduced"]
        lines = [head] + [
            f"  {r.row} | {r.column}: expected {r.expected:g}, got "
            + ("nothing" if r.status == "missing" else f"{r.actual:g} (diff {r.diff:+.4g})")
            for r in bad.itertuples()
        ]
        return "\n".join(lines)


def _norm(value: object) -> str:
    """One spelling per row label: ``1``, ``1.0`` and ``"1"`` all read ``1`` (CSV vs swept floats)."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def _row_key(key: object) -> str:
    return "/".join(_norm(k) for k in (key if isinstance(key, tuple) else (key,)))


def compare(
    table: Table | pd.DataFrame,
    expected: str | os.PathLike | pd.DataFrame,
    atol: float = 0.0,
    rtol: float = 0.0,
    scale: float | None = None,
) -> ComparisonResult:
    """Compare ``table`` with the expected CSV.

    The expected CSV has the table's row-label columns first (same names as ``table`` rows),
    then one column per table column label (e.g. ``clean/accuracy``); empty cells are not
    compared. Values are compared in the expected file's units: ``scale`` (default: the
    table spec's ``scale``) multiplies the measured values first, e.g. 100 for percentages.
    """
    if atol < 0 or rtol < 0:
        raise ValueError(f"tolerances must be >= 0, got atol={atol}, rtol={rtol}")
    if isinstance(table, Table):
        scale = table.spec.scale if scale is None else scale
        actual = table.mean
    else:
        actual = table
    scale = 1.0 if scale is None else scale
    names = [n for n in actual.index.names if n]
    if isinstance(expected, pd.DataFrame):
        exp = expected
    else:
        path = Path(expected)
        if not path.is_file():
            raise FileNotFoundError(f"expected table {path} does not exist")
        exp = pd.read_csv(path, dtype=str)
    missing_cols = [n for n in names if n not in exp.columns]
    if missing_cols:
        raise KeyError(f"expected table lacks row-label columns {missing_cols}; it has {list(exp.columns)}")
    lookup = {(_row_key(k), str(c)): v for k, row in actual.iterrows() for c, v in row.items()}
    rows = []
    for _, erow in exp.iterrows():
        rkey = _row_key(tuple(erow[n] for n in names)) if names else "all"
        for col in (c for c in exp.columns if c not in names):
            if pd.isna(erow[col]) or str(erow[col]).strip() == "":
                continue
            want = float(erow[col])
            got = lookup.get((rkey, col), math.nan)
            got = got * scale if not pd.isna(got) else math.nan
            tol = atol + rtol * abs(want)
            status = "missing" if np.isnan(got) else "reproduced" if abs(got - want) <= tol else "differs"
            rows.append({"row": rkey, "column": col, "expected": want, "actual": got,
                         "diff": got - want, "tolerance": tol, "status": status})
    cells = pd.DataFrame(rows, columns=["row", "column", "expected", "actual", "diff", "tolerance", "status"])
    return ComparisonResult(cells, atol, rtol)
