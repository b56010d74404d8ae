"""No file in src/, conf/, experiments/ or benchmarks/ sends a reader to a document outside the repository.

Why: a reader of a clone cannot follow "see methods.md" or "pitfall 7" when those notes are not
in the repository. References point to ``docs/<page>.md`` instead.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROOMS = ("src", "conf", "experiments", "benchmarks")
SUFFIXES = {".py", ".yaml", ".yml", ".md", ".txt", ".sh", ".toml", ".cfg", ".ini"}

#: (what is wrong, pattern): each a reference to text outside the repository
OUTSIDE = [
    ("notes outside the repository", re.compile(r"\b(methods|landscape)\.md\b")),
    ("architecture.md outside docs/", re.compile(r"(?<!docs/)(?<![\w/])architecture\.md\b")),
    ("numbered pitfalls of outside notes", re.compile(r"\bpitfalls?\b", re.IGNORECASE)),
    ("a developer's absolute path", re.compile(r"(?<![\w.])/work/")),
    ("the session's lead", re.compile(r"\bthe lead\b", re.IGNORECASE)),
    ("the shared folder's documents", re.compile(r"shared/docs\b")),
]


def offending_lines(text: str) -> list[tuple[int, str, str]]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for what, pattern in OUTSIDE:
            if pattern.search(line):
                found.append((number, what, line.strip()))
    return found


def test_the_patterns_catch_outside_references_and_accept_docs() -> None:
    bad = ["see methods.md §3", "(pitfall 7)", "architecture.md", "python /work/main/x.py", "the lead wires it"]
    assert [len(offending_lines(line)) for line in bad] == [1, 1, 1, 1, 1]
    good = ["see docs/architecture.md", "docs/metrics.md", "ROBUSTLENS_SHARED_DIR=../shared/data"]
    assert [offending_lines(line) for line in good] == [[], [], []]


def test_no_reference_points_outside_the_repository() -> None:
    problems = []
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file() or "__pycache__" in path.parts:
                continue
            for number, what, line in offending_lines(path.read_text(errors="replace")):
                problems.append(f"{path.relative_to(ROOT)}:{number}: {what}: {line[:100]}")
    assert not problems, "references outside the repository (point to docs/<page>.md):\n" + "\n".join(problems)


_MARKDOWN_LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
_DOC_MENTION = re.compile(r"(?<![\w/.])(docs/[\w./-]+\.md)\b")


def test_every_link_and_docs_page_named_in_the_repository_exists() -> None:
    """Markdown links (relative) and ``docs/<page>.md`` mentions in code, configs and docs resolve."""
    files = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")]
    files += [p for room in ROOMS for p in (ROOT / room).rglob("*") if p.suffix in SUFFIXES and p.is_file()]
    broken = []
    for path in files:
        text = path.read_text(errors="replace")
        for target in _MARKDOWN_LINK.findall(text) if path.suffix == ".md" else ():
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} links {target}")
        for page in _DOC_MENTION.findall(text):
            if not (ROOT / page).is_file():
                broken.append(f"{path.relative_to(ROOT)} names {page}")
    assert not broken, "\n".join(broken)
