"""The README's test command is the one CI runs, every CI stage reports its time, and the mutation
check the README documents is a CI stage (issue 21: the README and ``.ci/run`` drifted apart before)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CI_SCRIPT = REPO_ROOT / ".ci" / "run"
README = REPO_ROOT / "README.md"


def readme_test_command() -> str:
    """The command of the README's "Run the tests" block (the first fenced bash block after it)."""
    text = README.read_text()
    match = re.search(r"\*\*Run the tests\*\*.*?```bash\n(.*?)\n```", text, flags=re.S)
    assert match, "README.md lost its **Run the tests** block with a ```bash command"
    return match.group(1).strip()


def ci_stages() -> list[tuple[str, list[str]]]:
    """``.ci/run`` split at its ``# --- <stage> ---`` comments: (stage title, its non-comment lines)."""
    stages: list[tuple[str, list[str]]] = []
    for line in CI_SCRIPT.read_text().splitlines():
        heading = re.match(r"#\s*---\s*(.*?)\s*(---)?\s*$", line)
        if heading:
            stages.append((heading.group(1), []))
        elif stages and line.strip() and not line.lstrip().startswith("#"):
            stages[-1][1].append(line.strip())
    return stages


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    stages = dict(ci_stages())
    verbatim = [title for title in stages if "README's test command" in title]
    assert verbatim, ".ci/run has no stage titled \"the README's test command\""
    assert readme_test_command() in stages[verbatim[0]], (
        f"the README says to run the tests with\n  {readme_test_command()}\nbut .ci/run runs\n  "
        + "\n  ".join(stages[verbatim[0]])
    )


def test_ci_keeps_strict_mode_and_ci_true() -> None:
    text = CI_SCRIPT.read_text()
    assert "set -euo pipefail" in text
    assert re.search(r"^export .*\bCI=true\b", text, flags=re.M)


@pytest.mark.parametrize("stage", [title for title, _ in ci_stages()])
def test_every_ci_stage_prints_its_seconds(stage: str) -> None:
    lines = dict(ci_stages())[stage]
    assert "SECONDS=0" in lines, f".ci/run stage {stage!r} does not reset SECONDS"
    assert any(re.match(r'echo "ci: .*\$\{SECONDS\}s', line) for line in lines), (
        f".ci/run stage {stage!r} does not print `ci: ... ${{SECONDS}}s`"
    )


def test_the_documented_mutation_check_is_a_ci_stage() -> None:
    commands = [line for _, lines in ci_stages() for line in lines]
    assert any(re.search(r"python scripts/mutants\.py\b", line) for line in commands), (
        ".ci/run does not run the mutation check (python scripts/mutants.py)"
    )
    assert "python scripts/mutants.py" in README.read_text(), "README.md does not document the mutation check"
