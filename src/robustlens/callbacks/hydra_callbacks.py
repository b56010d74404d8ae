"""Hydra callbacks (registered under ``hydra.callbacks``), not Lightning callbacks.

Why: a multirun of 50 jobs where 3 failed must say so at the end, in one table, without
anyone opening 50 folders — and the summary must never turn a finished sweep into a crash.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.table import Table as RichTable

from robustlens.utils.console_tables import Column, fit_tables

if TYPE_CHECKING:  # pandas (also through report.collect) is imported when a summary is made: Hydra loads
    # this module for every command, a configuration error included
    import pandas as pd

log = logging.getLogger(__name__)


def sweep_summary(sweep_dir: str | Path, key_metric: str = "clean/accuracy") -> pd.DataFrame:
    """One row per job under ``sweep_dir``: job, swept params, status, ``key_metric``, error."""
    import pandas as pd

    from robustlens.report.collect import gather_jobs

    records = gather_jobs(sweep_dir)
    params = sorted({k for r in records for k in r.params})
    rows = []
    for rec in records:
        value = (rec.payload or {}).get("metrics", {}).get(key_metric)
        rows.append({"job": rec.job, **{p: rec.params.get(p) for p in params}, "status": rec.status,
                     key_metric: value if isinstance(value, int | float) else None, "error": rec.error or ""})
    return pd.DataFrame(rows, columns=["job", *params, "status", key_metric, "error"])


def _varies(values: pd.Series) -> bool:
    """Whether a swept parameter tells the jobs apart: set (not ``=null``) in some job, and not equal in all."""
    return bool(values.notna().any()) and values.astype(str).nunique() > 1


class SweepSummaryCallback(Callback):
    """At the end of a multirun: print a rich table of all jobs, write ``sweep_summary.csv``
    into the sweep dir and, if asked, log it as a W&B table in an offline run.

    Args:
        key_metric: the metric key shown per job (e.g. ``clean/accuracy``).
        filename: name of the CSV written into ``hydra.sweep.dir``.
        wandb: log the summary to W&B (offline mode; ``wandb sync`` later).
        wandb_project: W&B project of the summary run.
        max_error_chars: error messages are cut to this length in the printed table.
    """

    def __init__(
        self,
        key_metric: str = "clean/accuracy",
        filename: str = "sweep_summary.csv",
        wandb: bool = False,
        wandb_project: str | None = None,
        max_error_chars: int = 120,
        tables: dict[str, Any] | None = None,
    ) -> None:
        self.key_metric = key_metric
        self.filename = filename
        self.wandb = wandb
        self.wandb_project = wandb_project
        self.max_error_chars = max_error_chars
        #: report tables (name → TableSpec or its config) printed under the job table
        self.tables = dict(tables or {})
        self.last_summary: pd.DataFrame | None = None

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            self._summarise(Path(config.hydra.sweep.dir))
        except Exception:  # never let the summary fail a sweep that has finished
            log.exception("SweepSummaryCallback failed; the sweep itself is unaffected")

    def _summarise(self, sweep_dir: Path) -> None:
        summary = sweep_summary(sweep_dir, self.key_metric)
        self.last_summary = summary
        summary.to_csv(sweep_dir / self.filename, index=False)
        console = Console()
        console.print(*self._rich(summary, sweep_dir, width=console.width))
        if self.wandb:
            self._log_wandb(summary, sweep_dir)
        if self.tables:
            self._print_tables(sweep_dir)

    def _print_tables(self, sweep_dir: Path) -> None:
        """The sweep's report tables on the console; each also saved as Markdown in the sweep dir."""
        from hydra.utils import instantiate

        from robustlens.report.collect import gather
        from robustlens.report.tables import TableSpec, build_table, to_markdown, to_rich

        tidy = gather(sweep_dir)
        if tidy.empty:
            return
        console = Console()
        for name, spec in self.tables.items():
            if not isinstance(spec, TableSpec):
                plain = OmegaConf.to_container(spec, resolve=True) if isinstance(spec, DictConfig) else dict(spec)
                spec = instantiate(plain) if "_target_" in plain else TableSpec(**plain)
            try:
                table = build_table(tidy, spec)
            except Exception as exc:  # one table that does not apply must not hide the others
                log.warning("table %s skipped: %s", name, exc)
                continue
            console.print(*to_rich(table, width=console.width))
            (sweep_dir / f"{name}.md").write_text(to_markdown(table))

    def _rich(self, summary: pd.DataFrame, sweep_dir: Path, width: int = 80) -> list[RichTable]:
        """The job table at most ``width`` wide: every parameter value, status and metric in
        full, the key metric's header wrapped after its separators, errors wrapped (to
        ``max_error_chars``); columns that do not fit go into a further table, repeating ``job``."""
        import pandas as pd

        counts = summary["status"].value_counts().to_dict()
        title = "sweep: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))  # short: repeated per table
        fixed = {"job", "status", self.key_metric, "error"}
        # the console shows the overrides that vary and are set; the CSV keeps every parameter
        summary = summary[[c for c in summary.columns if c in fixed or _varies(summary[c])]]
        if not summary["error"].astype(bool).any():  # no job failed: no empty error column
            summary = summary.drop(columns="error")
        styles = {"complete": "green", "failed": "red", "corrupt": "red", "missing": "yellow",
                  "partial": "yellow"}
        columns = []
        for col in summary.columns:
            values = summary[col].tolist()
            if col == "error":
                cells = [" | ".join(line.strip() for line in str(v).splitlines() if line.strip())[: self.max_error_chars]
                         for v in values]
            else:
                cells = ["" if pd.isna(v) else f"{v:.4g}" if isinstance(v, float) else str(v) for v in values]
            columns.append(Column(str(col), cells, justify="right" if col == self.key_metric else "left",
                                  wrap=col == "error", label=col == "job"))
        return fit_tables(columns, width=width, title=title, caption=str(sweep_dir),
                          row_styles=[styles.get(s) for s in summary["status"]])

    def _log_wandb(self, summary: pd.DataFrame, sweep_dir: Path) -> None:
        import wandb

        run = wandb.init(project=self.wandb_project, dir=str(sweep_dir), mode="offline",
                         job_type="sweep_summary", name=f"summary-{sweep_dir.name}")
        try:
            run.log({"sweep_summary": wandb.Table(dataframe=summary.astype(str))})
        finally:
            run.finish()
