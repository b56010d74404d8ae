"""The rooms of ``src/robustlens`` depend on each other in layers, with no cycle: import-linter's
contracts in ``pyproject.toml`` (``[tool.importlinter]``), checked by its own ``lint-imports``.

Why every import counts, also those inside functions: a function-level import is how a cycle or an
upward arrow is usually hidden; it still means that two modules cannot be understood, tested or moved
apart. The other tests show that the contracts fail on an upward import, on an attack that imports
torchmetrics and on a cycle, on a copy of the sources.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with ``root``'s pyproject.toml on ``root/src``."""
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", str(root / "pyproject.toml")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package and its contracts with ``line`` added to ``module`` (a path below src/robustlens)."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(ROOT / "src" / "robustlens", tmp_path / "src" / "robustlens",
                    ignore=shutil.ignore_patterns("__pycache__", "conf"))
    target = tmp_path / "src" / "robustlens" / module
    target.write_text(target.read_text(encoding="utf-8") + f"\n\ndef _added():\n    {line}\n", encoding="utf-8")
    return tmp_path


def test_the_contracts_are_kept():
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 kept, 0 broken" in run.stdout


def test_an_upward_import_breaks_the_layers(tmp_path):
    run = lint_imports(copy_with(tmp_path, "attacks/noise.py", "from robustlens.evaluation import probe  # noqa"))
    assert run.returncode != 0
    assert "rooms in layers" in run.stdout and "BROKEN" in run.stdout
    assert "robustlens.attacks.noise -> robustlens.evaluation.probe" in run.stdout


def test_an_attack_that_imports_torchmetrics_breaks_the_light_attacks_contract(tmp_path):
    run = lint_imports(copy_with(tmp_path, "attacks/noise.py", "import torchmetrics  # noqa"))
    assert run.returncode != 0
    assert "attacks import neither Lightning nor torchmetrics" in run.stdout and "BROKEN" in run.stdout
    assert "robustlens.attacks.noise -> torchmetrics" in run.stdout


def test_a_cycle_inside_a_room_breaks_the_acyclic_contract(tmp_path):
    # utils.results_file imports utils.io: an import back closes a cycle inside one room
    run = lint_imports(copy_with(tmp_path, "utils/io.py", "from robustlens.utils import results_file  # noqa"))
    assert run.returncode != 0
    assert "no import cycle" in run.stdout and "BROKEN" in run.stdout
