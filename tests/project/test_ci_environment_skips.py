"""Tests that need a service of this machine (the localhost SLURM cluster, a root-only tmpfs, a network
namespace) skip where it is absent, but fail under CI (``CI=true``), like missing shared data; and no test
module skips by itself outside that rule."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

#: ``pytest.mark.skipif`` conditions allowed in tests/: hardware that CI does not have (a GPU)
ALLOWED_SKIPIF = ("torch.cuda.is_available()", "torch.backends.mps.is_available()")


def _failed(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess(args=args, returncode=1, stdout="", stderr="not allowed (test double)")


def _both_ways(monkeypatch: pytest.MonkeyPatch, call, match: str) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=match):
        call()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        call()


def test_a_slurm_cluster_that_cannot_start_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.slurm import conftest as slurm

    monkeypatch.setattr(slurm, "_script", _failed)
    _both_ways(monkeypatch, slurm.start_cluster, "SLURM cluster could not start: not allowed")


def test_a_tmpfs_that_cannot_mount_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    from tests.faults import test_environment as env

    monkeypatch.setattr(env.subprocess, "run", _failed)
    _both_ways(monkeypatch, lambda: env.mount_small_tmpfs(tmp_path), "cannot mount a size-limited tmpfs")


def test_no_network_namespace_skips_locally_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.faults import test_environment as env

    monkeypatch.setattr(env.shutil, "which", lambda tool: None)
    _both_ways(monkeypatch, env.require_network_namespace, "unshare not found")
    monkeypatch.setattr(env.shutil, "which", lambda tool: f"/usr/bin/{tool}")
    monkeypatch.setattr(env.subprocess, "run", _failed)
    _both_ways(monkeypatch, env.require_network_namespace, "cannot create a network namespace")


def _skips_outside_the_rule(path: Path) -> list[str]:
    """Calls of ``pytest.skip``/``pytest.importorskip`` and ``skipif`` marks whose condition is not a GPU."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        if name in ("pytest.skip", "pytest.importorskip", "pytest.mark.skip"):
            found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: {name}")
        elif name == "pytest.mark.skipif":
            condition = ast.unparse(node.args[0]) if node.args else ""
            if not any(allowed in condition for allowed in ALLOWED_SKIPIF):
                found.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}: skipif({condition})")
    return found


def test_every_skip_in_tests_goes_through_the_missing_rule() -> None:
    """A test may skip for a missing folder, package or service only through ``missing()`` (which fails
    under CI); ``skipif`` is left for hardware CI lacks (a GPU)."""
    own = Path(__file__).resolve()
    rule = REPO_ROOT / "tests" / "conftest.py"
    offenders = [hit for path in sorted((REPO_ROOT / "tests").rglob("*.py")) if path not in (own, rule)
                 for hit in _skips_outside_the_rule(path)]
    assert offenders == [], "use tests.conftest.missing() instead:\n" + "\n".join(offenders)
