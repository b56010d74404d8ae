"""The mutation check's catalogue stays applicable: every mutant names a file under src/ where its
``old`` text occurs exactly once, and pytest node ids (no options) as its tests. A refactoring that moves
mutated code fails here, in the default suite, naming the mutant to re-point — not only in CI's mutation
stage. Also the script's own rules: a stale mutant is refused, overlapping selections run once."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.mutants.mutant import Mutant

REPO_ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("mutants_script", REPO_ROOT / "scripts" / "mutants.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("mutants_script", module)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
CATALOGUE = SCRIPT.load_catalogue()


@pytest.mark.parametrize("mutant", CATALOGUE, ids=[m.name for m in CATALOGUE])
def test_every_mutant_applies_to_the_current_source(mutant: Mutant) -> None:
    assert SCRIPT.stale_reason(mutant) is None, f"mutant {mutant.name}: {SCRIPT.stale_reason(mutant)}"
    for test in mutant.tests:
        assert (REPO_ROOT / test.split("::")[0]).is_file(), f"mutant {mutant.name}: no test file {test}"


def test_a_stale_mutant_is_refused_naming_the_fix() -> None:
    moved = Mutant("moved", "x", "src/robustlens/attacks/fgsm.py", "no such text", "x", ("tests/attacks",))
    assert "occurs 0 times" in SCRIPT.stale_reason(moved)
    twice = Mutant("twice", "x", "src/robustlens/attacks/fgsm.py", "self", "this", ("tests/attacks",))
    assert "re-point it" in SCRIPT.stale_reason(twice)
    option = Mutant("option", "x", "src/robustlens/attacks/fgsm.py", "grad.sign()", "grad", ("-k", "fgsm"))
    assert "no options" in SCRIPT.stale_reason(option)


def test_overlapping_selections_run_once() -> None:
    mutants = [Mutant("a", "x", "p", "o", "n", ("tests/a.py", "tests/b.py::t")),
               Mutant("b", "x", "p", "o", "n", ("tests/a.py::u", "tests/b.py::t", "tests/c.py::v"))]
    assert SCRIPT.union_of_selections(mutants) == ("tests/a.py", "tests/b.py::t", "tests/c.py::v")


def test_mutant_names_are_unique_identifiers() -> None:
    """The name is the mutant's handle (``--only NAME``, the temporary folder, the JSON): one word, once."""
    names = [m.name for m in CATALOGUE]
    assert len(names) == len(set(names))
    assert [n for n in names if not n.isidentifier() or n != n.lower()] == []
