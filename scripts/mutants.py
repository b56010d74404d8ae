"""The mutation check: break ``src/`` on purpose, one small plausible bug at a time, and see the tests fail.

Each mutant (``tests/mutants/mutant.py:Mutant``, listed in the ``MUTANTS`` of every
``tests/mutants/catalogue_*.py``) replaces one exact string of one file under ``src/`` in a temporary
copy of the repository (the working tree is never touched) and runs the mutant's test selection there
with this interpreter and ``PYTHONPATH=<copy>/src``. The mutant is *caught* when that selection fails,
*survived* when it passes: a test gap to close. Once per run the union of all selections also runs on an
unmutated copy, since "caught" means nothing if the selection fails anyway.

    python scripts/mutants.py                       # all mutants, 2 side by side
    python scripts/mutants.py --only pgd_step_sign  # one or a few by name
    python scripts/mutants.py --area attacks --jobs 1 --json outputs/mutants.json

Exit status: 0 when every mutant is caught and the unmutated selections pass; 1 when a mutant survives,
a mutant is stale (its ``old`` string is not found exactly once), a selection runs no test, or the
unmutated selections fail.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.mutants.mutant import Mutant  # noqa: E402  (the repository root must be importable first)

CATALOGUE_DIR = REPO_ROOT / "tests" / "mutants"
#: what a test run never needs from the checkout (virtual environments, VCS, run outputs, caches)
_NOT_COPIED_AT_ROOT = {".git", ".venv", "outputs", "data", "multirun", "wandb", "lightning_logs", "logs"}
_NOT_COPIED_ANYWHERE = shutil.ignore_patterns("__pycache__", ".*_cache", "*.egg-info")
_PYTEST_ARGS = ("-x", "-q", "-p", "no:cacheprovider")
#: a selection that hangs on a mutant is stopped here (pytest-timeout normally fails it much earlier)
_HANG_SECONDS = 600
#: pytest's exit statuses: tests failed, run interrupted (collection errors), nothing collected
_FAILED, _INTERRUPTED, _NO_TESTS = 1, 2, 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one selection did: ``verdict`` is caught / survived / stale / error, ``tests`` how many ran."""

    name: str
    area: str
    verdict: str
    tests: int
    seconds: float
    detail: str = ""


def load_catalogue(directory: Path = CATALOGUE_DIR) -> list[Mutant]:
    """Every ``MUTANTS`` of ``directory/catalogue_*.py``, in file order; duplicate names are an error."""
    mutants: list[Mutant] = []
    for path in sorted(directory.glob("catalogue_*.py")):
        spec = importlib.util.spec_from_file_location(f"mutant_catalogue_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        mutants.extend(module.MUTANTS)
    repeated = [name for name, count in Counter(m.name for m in mutants).items() if count > 1]
    if repeated:
        raise SystemExit(f"mutants.py: mutant names must be unique; repeated: {', '.join(sorted(repeated))}")
    return mutants


def stale_reason(mutant: Mutant, root: Path = REPO_ROOT) -> str | None:
    """Why ``mutant`` cannot be applied to the checkout at ``root`` (``None`` when it can)."""
    path = root / mutant.path
    if not mutant.path.startswith("src/") or not path.is_file():
        return f"{mutant.path} is not a file under src/"
    if any(arg.startswith("-") for arg in mutant.tests) or not mutant.tests:
        return "tests must be one or more pytest node ids or paths (no options)"
    count = path.read_text().count(mutant.old)
    if count != 1:
        return f"its old string occurs {count} times in {mutant.path} (must be exactly once): re-point it"
    if mutant.old == mutant.new:
        return "old and new are the same"
    return None


def copy_repository(destination: Path, source: Path = REPO_ROOT) -> Path:
    """A copy of the checkout's sources, tests, configs and project files under ``destination``."""
    def ignored(folder: str, names: list[str]) -> set[str]:
        at_root = _NOT_COPIED_AT_ROOT.intersection(names) if Path(folder) == source else set()
        return at_root | (_NOT_COPIED_ANYWHERE(folder, names) if source == REPO_ROOT else set())

    copy = destination / "repo"
    shutil.copytree(source, copy, ignore=ignored, symlinks=True)
    return copy


def compiled_template(destination: Path) -> Path:
    """One copy of the checkout with its bytecode compiled, for the mutants' copies to start from.

    Why: every mutant's pytest would otherwise compile all of ``src/`` and ``tests/`` again. The
    copies keep each file's modification time, so the bytecode stays valid for every file but the
    mutated one, which Python recompiles (its time and size changed).
    """
    template = copy_repository(destination)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "src", "tests"], cwd=template,
                   check=True, capture_output=True)
    return template


def selection_environment(copy: Path) -> dict[str, str]:
    """This environment with the copy's sources first and the shared folder of the checkout."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(copy / "src"), str(copy),
                                                                     os.environ.get("PYTHONPATH", "")])),
               WANDB_MODE="offline", WANDB_SILENT="true")
    env.setdefault("OMP_NUM_THREADS", "1")
    # the copy lives in a temporary folder, so ``<repo>/../shared`` would not resolve there
    env.setdefault("ROBUSTLENS_SHARED_DIR", str((REPO_ROOT.parent / "shared").resolve()))
    return env


def run_selection(copy: Path, selection: tuple[str, ...]) -> tuple[int, int, int, str]:
    """Run pytest on ``selection`` inside ``copy``: (exit status, tests run, tests skipped, output tail)."""
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", *_PYTEST_ARGS, *selection], cwd=copy,
                              env=selection_environment(copy), capture_output=True, text=True, timeout=_HANG_SECONDS)
        status, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as hung:
        status, output = -1, f"stopped after {_HANG_SECONDS}s: {(hung.stdout or '')[-400:]!s}"
    counts = {word: int(number) for number, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", output)}
    ran = counts.get("passed", 0) + counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    timed_out = "[pytest-timeout] " if "+ Timeout +" in output else ""
    return status, ran, counts.get("skipped", 0), timed_out + output[-1500:]


def check_mutant(mutant: Mutant, template: Path) -> Outcome:
    """Apply ``mutant`` to a fresh copy of ``template``, run its selection and judge it."""
    start = time.perf_counter()
    reason = stale_reason(mutant)
    if reason:
        return Outcome(mutant.name, mutant.area, "stale", 0, 0.0, reason)
    with tempfile.TemporaryDirectory(prefix=f"mutant-{re.sub(r'[^A-Za-z0-9_.-]', '_', mutant.name)}-") as scratch:
        copy = copy_repository(Path(scratch), template)
        target = copy / mutant.path
        target.write_text(target.read_text().replace(mutant.old, mutant.new))
        status, ran, _, tail = run_selection(copy, mutant.tests)
    seconds = time.perf_counter() - start
    if status in (_FAILED, _INTERRUPTED, -1):
        # a selection stopped by pytest-timeout counts as caught (a mutant that hangs is a caught bug),
        # but says so: on a loaded machine a slow test can time out without any mutant
        timed_out = tail.startswith("[pytest-timeout]")
        detail = {_FAILED: "timed out" if timed_out else "", _INTERRUPTED: "collection error", -1: "hung"}[status]
        return Outcome(mutant.name, mutant.area, "caught", ran, seconds, detail)
    if status == 0:
        return Outcome(mutant.name, mutant.area, "survived", ran, seconds, "its selection passes on the mutant")
    what = "no test ran (deselected by a marker?)" if status == _NO_TESTS else f"pytest exit status {status}"
    return Outcome(mutant.name, mutant.area, "error", ran, seconds, f"{what}: {tail[-300:]}")


def union_of_selections(mutants: list[Mutant]) -> tuple[str, ...]:
    """Every selected path or node id once; a node id inside a selected file is dropped (the file covers it)."""
    selected = dict.fromkeys(test for mutant in mutants for test in mutant.tests)
    files = {test for test in selected if "::" not in test}
    return tuple(test for test in selected if "::" not in test or test.split("::")[0] not in files)


def check_unmutated(mutants: list[Mutant], template: Path) -> Outcome:
    """The union of the selections on an unmutated copy: it must pass, with no test skipped."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutant-baseline-") as scratch:
        status, ran, skipped, tail = run_selection(copy_repository(Path(scratch), template),
                                                   union_of_selections(mutants))
    seconds = time.perf_counter() - start
    if status != 0:
        return Outcome("(unmutated)", "-", "error", ran, seconds, f"the selections fail without a mutant: {tail}")
    if skipped:
        return Outcome("(unmutated)", "-", "error", ran, seconds,
                       f"{skipped} selected tests skip (a skipped test catches nothing): {tail[-600:]}")
    return Outcome("(unmutated)", "-", "passed", ran, seconds)


def children_cpu_seconds() -> float:
    """User + system CPU seconds of every finished child process (the pytest runs): on an otherwise idle
    machine with ``jobs`` cores, about ``jobs`` × the wall time; the wall time alone says little on a
    shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_report(console: Console, outcomes: list[Outcome], baseline: Outcome, wall: float) -> None:
    """The table of mutants, the counts per area and the verdict line."""
    colours = {"caught": "green", "survived": "bold red", "stale": "bold red", "error": "bold red",
               "passed": "green"}
    table = Table(title="mutation check")
    for column in ("mutant", "area", "tests run", "verdict", "seconds", "detail"):
        table.add_column(column, justify="right" if column in ("tests run", "seconds") else "left")
    for outcome in [*outcomes, baseline]:
        colour = colours[outcome.verdict]
        table.add_row(outcome.name, outcome.area, str(outcome.tests), f"[{colour}]{outcome.verdict}[/]",
                      f"{outcome.seconds:.1f}", outcome.detail[:200])
    console.print(table)
    per_area = Table(title="mutants per area")
    for column in ("area", "mutants", "caught", "not caught"):
        per_area.add_column(column, justify="left" if column == "area" else "right")
    for area in sorted({outcome.area for outcome in outcomes}):
        mine = [outcome for outcome in outcomes if outcome.area == area]
        caught = sum(outcome.verdict == "caught" for outcome in mine)
        per_area.add_row(area, str(len(mine)), str(caught), str(len(mine) - caught))
    console.print(per_area)
    caught = sum(outcome.verdict == "caught" for outcome in outcomes)
    console.print(f"mutation check: {caught}/{len(outcomes)} mutants caught, unmutated selections "
                  f"{baseline.verdict} ({baseline.tests} tests), {wall:.0f}s wall, "
                  f"{children_cpu_seconds():.0f} CPU seconds")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these mutants")
    parser.add_argument("--area", nargs="+", help="run only the mutants of these areas")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run side by side (default 2)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the outcomes as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    # CI logs are not terminals (80 columns): wide enough there that mutant names are not cut
    console = Console() if sys.stdout.isatty() else Console(width=160)
    mutants = load_catalogue()
    unknown = set(arguments.only or ()) - {mutant.name for mutant in mutants}
    if unknown:
        console.print(f"[bold red]mutants.py: no mutant named {', '.join(sorted(unknown))}[/]")
        return 2
    mutants = [mutant for mutant in mutants if (not arguments.only or mutant.name in arguments.only)
               and (not arguments.area or mutant.area in arguments.area)]
    if not mutants:
        console.print("[bold red]mutants.py: no mutant selected[/]")
        return 2
    start = time.perf_counter()
    console.print(f"mutation check: {len(mutants)} mutants, {arguments.jobs} side by side, "
                  f"and their {len(union_of_selections(mutants))} selections unmutated")
    with tempfile.TemporaryDirectory(prefix="mutants-template-") as scratch, \
            ThreadPoolExecutor(max_workers=max(1, arguments.jobs)) as pool:
        template = compiled_template(Path(scratch))
        # the unmutated run goes first and side by side with the mutants: a failure there voids the verdicts
        pending_baseline = pool.submit(check_unmutated, mutants, template)
        outcomes = list(pool.map(lambda mutant: check_mutant(mutant, template), mutants))
        baseline = pending_baseline.result()
    wall = time.perf_counter() - start
    print_report(console, outcomes, baseline, wall)
    if arguments.json:
        arguments.json.parent.mkdir(parents=True, exist_ok=True)
        arguments.json.write_text(json.dumps({"wall_seconds": round(wall, 1),
                                              "cpu_seconds": round(children_cpu_seconds(), 1),
                                              "unmutated": asdict(baseline),
                                              "mutants": [asdict(outcome) for outcome in outcomes]}, indent=2))
    failed = baseline.verdict != "passed" or any(outcome.verdict != "caught" for outcome in outcomes)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
