"""The report task: ``robustlens report <dir>`` → ``run_report(cfg)`` with ``cfg.run_dir=<dir>``.

Reads only results files (the boundary in docs/architecture.md), writes everything into
``<run_dir>/report/`` (or ``cfg.output_dir``) and prints the table with rich.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from robustlens.report.collect import JobRecord, gather, gather_jobs, incomplete, write_tidy
from robustlens.report.comparison import compare
from robustlens.report.models import with_model_labels
from robustlens.report.paired import (
    CompareSpec,
    build_comparison,
    comparison_latex,
    comparison_markdown,
    comparison_rich,
)
from robustlens.report.plots import PlotSkipped
from robustlens.report.tables import Table, TableSpec, build_table, to_latex, to_markdown, to_rich

log = logging.getLogger(__name__)


def _table_spec(node: Any) -> TableSpec | CompareSpec:
    if node is None:
        return TableSpec()
    spec = instantiate(node, _convert_="all") if "_target_" in node else TableSpec(**OmegaConf.to_object(node))
    if not isinstance(spec, TableSpec | CompareSpec):
        raise TypeError(f"cfg.table must instantiate a TableSpec or a CompareSpec, got {type(spec).__name__}")
    return spec


def _write_comparison(records: list[JobRecord], spec: CompareSpec, out_dir: Path, stem: str,
                      console: Console) -> list[str]:
    """Write ``<stem>.csv`` (every number unrounded) and ``<stem>.md``/``.tex``; print the table."""
    frame = build_comparison(records, spec)
    written = [out_dir / f"{stem}.csv"]
    frame.to_csv(written[0], index=False)
    if spec.format in ("markdown", "both"):
        written.append(out_dir / f"{stem}.md")
        written[-1].write_text(comparison_markdown(frame, spec))
    if spec.format in ("latex", "both"):
        written.append(out_dir / f"{stem}.tex")
        written[-1].write_text(comparison_latex(frame, spec))
    console.print(*comparison_rich(frame, spec, width=console.width))
    return [str(p) for p in written]


def _write_any_table(df: Any, records: list[JobRecord], spec: TableSpec | CompareSpec, out_dir: Path, stem: str,
                     console: Console) -> tuple[list[str], Table | None]:
    """A table of numbers or a comparison table, as ``spec`` says; the written paths and the built table."""
    if isinstance(spec, CompareSpec):
        return _write_comparison(records, spec, out_dir, stem, console), None
    table = build_table(df, spec)
    return _write_table(table, out_dir, stem, console), table


def _write_table(table: Table, out_dir: Path, stem: str, console: Console) -> list[str]:
    """Write ``<stem>.md`` / ``<stem>.tex`` as the table's spec asks and print it; the written paths."""
    written = []
    if table.spec.format in ("markdown", "both"):
        (out_dir / f"{stem}.md").write_text(to_markdown(table))
        written.append(str(out_dir / f"{stem}.md"))
    if table.spec.format in ("latex", "both"):
        (out_dir / f"{stem}.tex").write_text(to_latex(table))
        written.append(str(out_dir / f"{stem}.tex"))
    console.print(*to_rich(table, width=console.width))
    return written


def run_report(cfg: DictConfig, console: Console | None = None) -> dict[str, Any]:
    """Gather ``cfg.run_dir``, write tidy data, tables, plots and the comparison; return a summary."""
    console = console or Console()
    if not cfg.get("run_dir"):
        raise ValueError("run_dir is not set: call `robustlens report <run or multirun dir>` (run_dir=<dir>)")
    run_dir = Path(cfg.run_dir)
    out_dir = Path(cfg.get("output_dir") or run_dir / "report")
    records = gather_jobs(run_dir)
    if not records:
        raise FileNotFoundError(f"no job results under {run_dir} (expected results.json in job dirs)")
    df = with_model_labels(gather(records), records)  # zoo models: name, architecture, published numbers
    files = [str(p) for p in write_tidy(df, out_dir)]
    failed = incomplete(records)
    failed.to_csv(out_dir / "incomplete_jobs.csv", index=False)
    files.append(str(out_dir / "incomplete_jobs.csv"))
    summary: dict[str, Any] = {
        "run_dir": str(run_dir), "output_dir": str(out_dir), "jobs": len(records),
        "complete": len(records) - len(failed), "incomplete": len(failed), "files": files,
        "skipped_plots": [], "skipped_tables": [], "reproduced": None,
    }
    if df.empty:
        console.print(f"[red]no complete jobs under {run_dir}[/red]")
        return summary

    main_spec = _table_spec(cfg.get("table"))
    written, table = _write_any_table(df, records, main_spec, out_dir,
                                      "compare" if isinstance(main_spec, CompareSpec) else "table", console)
    files += written
    # further named tables (e.g. an experiment's layout); like a plot, one the results cannot fill
    # is skipped with its reason instead of failing the report
    for name, node in (cfg.get("tables") or {}).items():
        try:
            files += _write_any_table(df, records, _table_spec(node), out_dir, name, console)[0]
        except (KeyError, ValueError) as why:
            log.warning("skipped table %s: %s", name, why)
            summary["skipped_tables"].append(f"{name}: {why}")

    for node in cfg.get("plots") or []:
        plot = instantiate(node, _convert_="all")
        try:
            extra = {"records": records} if getattr(plot, "needs_records", False) else {}
            files += [str(p) for p in plot(df, out_dir / "plots", **extra)]
        except PlotSkipped as why:
            log.warning("skipped plot: %s", why)
            summary["skipped_plots"].append(str(why))
        except Exception as exc:  # a broken figure must not cost the tables and comparison after it
            log.error("plot %s failed: %s", type(plot).__name__, exc, exc_info=True)
            summary["skipped_plots"].append(f"{type(plot).__name__} failed: {exc}")

    expected = cfg.get("expected")
    if expected and expected.get("path") and table is not None:
        result = compare(table, expected.path, atol=float(expected.get("atol", 0.0)),
                         rtol=float(expected.get("rtol", 0.0)))
        result.cells.to_csv(out_dir / "comparison.csv", index=False)
        (out_dir / "comparison.txt").write_text(result.summary() + "\n")
        files += [str(out_dir / "comparison.csv"), str(out_dir / "comparison.txt")]
        summary["reproduced"] = result.reproduced
        console.print(("[green]" if result.reproduced else "[yellow]") + result.summary())

    if len(failed):
        console.print(f"[yellow]{len(failed)} job(s) not complete:[/yellow]")
        for row in failed.itertuples():
            console.print(f"  {row.job}: {row.status} {row.error}")
    return summary
