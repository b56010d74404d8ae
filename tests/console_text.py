"""Render rich output as plain text at a fixed width, and check that it cut nothing."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from rich.console import Console

from robustlens.utils.console_tables import name_parts


def recording_console(width: int = 80) -> Console:
    """A ``width``-column console without colours (a SLURM log) that keeps what it printed
    (``export_text()``)."""
    return Console(width=width, record=True, file=io.StringIO(), color_system=None)


def render(renderables: Iterable[Any], width: int = 80) -> str:
    """What a ``width``-column console without colours shows of ``renderables``."""
    console = recording_console(width)
    console.print(*renderables)
    return console.export_text()


def assert_nothing_cut(text: str, width: int, names: Iterable[str] = (), cells: Iterable[str] = ()) -> None:
    """No line wider than ``width``, no table cropped at its right edge, no "…", every part of
    every name (headers may be wrapped after their separators) and every cell in full."""
    assert max(len(line) for line in text.splitlines()) <= width, text
    assert "…" not in text, text
    for line in text.splitlines():  # a table wider than the console loses its right border
        if line.strip() and line.strip()[0] in "┏┃┡│└":
            assert line.strip()[-1] in "┓┃┩│┘", f"cropped line {line!r}:\n{text}"
    for name in names:
        for part in name_parts(name):
            assert part in text, f"{part!r} of {name!r} missing:\n{text}"
    for cell in cells:
        assert cell in text, f"{cell!r} missing:\n{text}"


def column_names(tables: Iterable[Any]) -> list[str]:
    """The headers of rich tables with their wrapping undone (``pgd_linf_\\naccuracy`` →
    ``pgd_linf_accuracy``): a wrapped header that lost a character does not come back whole."""
    return ["".join(str(getattr(c.header, "plain", c.header)).splitlines()) for t in tables for c in t.columns]
