"""Rich tables that fit a narrow console (80 columns, a SLURM log) without cutting a name.

Why: rich shrinks the columns of a table wider than the console and ends their text with "…",
so a report whose headers read ``pgd_linf_tar…`` or ``worst_class_…`` names nothing. Here every
cell keeps its full text instead: a header (and a long label) is wrapped after the separators
of its name (``_``, ``/``, ``.``, …), a free-text column (an error message) is wrapped at its
width, and when the columns still do not fit side by side they are spread over several tables,
each repeating the label columns (the layout of the evaluation summary, ``evaluation/console.py``).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.table import Table
from rich.text import Text

#: a name is broken after one of these (``pgd_linf/accuracy`` → ``pgd_`` ``linf/`` ``accuracy``)
SEPARATORS = "_/.@=-"
#: a table's own width beyond its columns' text: one border per column and one more, 1+1 padding
COLUMN_OVERHEAD, TABLE_OVERHEAD = 3, 1
#: a header is wrapped into about this many lines when the cells leave it narrower
HEADER_LINES = 3
#: wrapped free text (``Column(wrap=True)``) is at most this wide (or what the labels leave)
TEXT_WIDTH = 40
#: ... and at least this wide, even beside wide labels
MIN_TEXT_WIDTH = 12

Justify = Literal["left", "right", "center"]


def name_parts(name: str) -> list[str]:
    """``name`` split after each separator; the parts join back to ``name``."""
    return [p for p in re.split(f"(?<=[{re.escape(SEPARATORS)}])", name) if p]


def wrap_name(name: str, width: int) -> str:
    """``name`` on lines of at most ``width`` characters, broken only after its separators
    (a part longer than ``width`` keeps a line of its own, whole)."""
    lines: list[str] = []
    for part in name_parts(name):
        if lines and len(lines[-1]) + len(part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return "\n".join(lines)


def _longest_part(text: str) -> int:
    return max((len(p) for line in text.splitlines() for p in name_parts(line)), default=0)


@dataclass
class Column:
    """One column: its header and its cells (already formatted), one per row.

    Attributes:
        wrap: free text (an error message): wrapped at the column's width, which is at most
            :data:`TEXT_WIDTH`, rather than kept on one line.
        label: a label column (the probe, a swept parameter): repeated in every table when the
            value columns are spread over several.
    """

    header: str
    cells: Sequence[str]
    justify: Justify = "left"
    wrap: bool = False
    label: bool = False
    style: str | None = field(default=None)

    def width(self, max_label: int) -> int:
        """The text width this column gets: its longest cell, its header in about
        :data:`HEADER_LINES` lines, never less than the longest unbreakable part of either."""
        if self.wrap:
            longest = max((len(c) for c in self.cells), default=0)
            return max(min(longest, TEXT_WIDTH), len(self.header), 1)
        cells = max((len(line) for c in self.cells for line in c.splitlines()), default=0)
        if self.label:  # long labels are wrapped too, so that the label columns leave room for values
            cells = max(min(cells, max_label), max((_longest_part(c) for c in self.cells), default=0))
        return max(cells, _longest_part(self.header), math.ceil(len(self.header) / HEADER_LINES))

    def render_cell(self, text: str, width: int) -> str:
        if self.wrap:
            return "\n".join(textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False)) or ""
        if self.label and len(text) > width:
            return wrap_name(text, width)
        return text


def fit_tables(
    columns: Sequence[Column],
    width: int = 80,
    title: str | None = None,
    caption: str | None = None,
    row_styles: Sequence[str | None] | None = None,
    drop_empty_rows: bool = False,
) -> list[Table]:
    """``columns`` as rich tables of at most ``width`` characters, none of whose text is cut.

    The label columns come first in every table; the other columns are packed, in order, into as
    few tables as fit. Titles get ``(i/n)`` when there are several; the caption goes under the
    last. ``row_styles`` (one per row) styles whole rows (e.g. failed jobs in red);
    ``drop_empty_rows`` leaves a row out of a table where all its value cells are empty.
    """
    labels = [c for c in columns if c.label]
    values = [c for c in columns if not c.label]
    max_label = max(12, width // 3)
    widths = {id(c): c.width(max_label) for c in columns}
    base = TABLE_OVERHEAD + sum(widths[id(c)] + COLUMN_OVERHEAD for c in labels)
    for c in values:  # free text takes at most what is left beside the labels
        if c.wrap:
            widths[id(c)] = max(min(widths[id(c)], width - base - COLUMN_OVERHEAD), MIN_TEXT_WIDTH)
    chunks: list[list[Column]] = [[]]
    used = base
    for column in values:
        need = widths[id(column)] + COLUMN_OVERHEAD
        if chunks[-1] and used + need > width:
            chunks.append([])
            used = base
        chunks[-1].append(column)
        used += need
    for chunk in chunks:  # room left in a table goes to its wrapped headers, in order
        spare = width - base - sum(widths[id(c)] + COLUMN_OVERHEAD for c in chunk)
        for column in chunk:
            grow = min(spare, max(len(column.header) - widths[id(column)], 0))
            widths[id(column)] += grow
            spare -= grow
    n_rows = max((len(c.cells) for c in columns), default=0)
    tables = []
    for i, chunk in enumerate(chunks):
        numbered = f"{title} ({i + 1}/{len(chunks)})" if title and len(chunks) > 1 else title
        table = Table(title=numbered, caption=caption if i == len(chunks) - 1 else None)
        shown = [*labels, *chunk]
        for column in shown:
            w = widths[id(column)]
            table.add_column(Text(wrap_name(column.header, w)), justify=column.justify, no_wrap=True,
                             min_width=w, style=column.style)
        for r in range(n_rows):
            if drop_empty_rows and not any(c.cells[r] for c in chunk):
                continue
            cells = [Text(c.render_cell(c.cells[r], widths[id(c)])) for c in shown]
            table.add_row(*cells, style=row_styles[r] if row_styles else None)
        tables.append(table)
    return tables


__all__ = ["Column", "fit_tables", "name_parts", "wrap_name"]
