"""One mutant of the mutation check: a small, plausible bug and the narrowest tests that must catch it.

``scripts/mutants.py`` copies the repository, replaces ``old`` by ``new`` in ``path`` (``old`` must occur
exactly once, so a refactoring that moves the code makes the mutant fail loudly instead of silently
mutating nothing), runs ``tests`` and counts the mutant as caught when that selection fails.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mutant:
    """A named bug in one place of ``src/`` and the test selection that names the broken behaviour."""

    name: str
    area: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
