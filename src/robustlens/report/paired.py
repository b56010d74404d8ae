"""The comparison table: is a job's number really different from the reference job's?

``robustlens report <dir> table=compare table.reference.training=standard`` pairs every job with
the reference job that has the same values of all other swept parameters (the same seed, the
same ε, ...) and, per probe and metric, prints the difference ``job − reference``, its interval
and the p-value of a paired test on the per-sample values both jobs wrote to ``per_sample.csv``
(:mod:`robustlens.metrics.significance`), Holm-adjusted over the whole table, marking with ``*``
what stays significant at ``alpha``.

Why paired, and why refused when the samples differ: a paired test is only valid on the same
samples, and two jobs on different subsets can differ by their samples alone. So the two jobs
must have the same data config (dataset, subset, split seed), the same job seed (the latent
probes draw their codes from it) and, per probe, the same sample indices and labels; otherwise
the comparison is refused with the reason (:class:`SamplesNotShared`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from robustlens.config.errors import ConfigError
from robustlens.metrics.functional import CLASS_SUMMARY_STATISTICS
from robustlens.metrics.intervals import Level
from robustlens.metrics.significance import (
    NormTest,
    PairedDifference,
    holm,
    paired_class_summary_difference,
    paired_mean_difference,
    paired_rate_difference,
)
from robustlens.report.collect import JobRecord
from robustlens.utils.console_tables import Column, fit_tables

log = logging.getLogger(__name__)

PER_SAMPLE_FILE = "per_sample.csv"
#: data-config keys that never change which test samples a job sees (where files are, loading speed)
SAMPLE_NEUTRAL_DATA_KEYS = frozenset({
    "data_dir", "root", "batch_size", "eval_batch_size", "num_workers", "pin_memory", "persistent_workers",
    "train_subset", "val_fraction", "download",
})
#: the per-sample column a mean metric is computed from (NormStatistics/LatentSeverity: ``norm``);
#: any other metric that is not an accuracy or a class summary is the mean of its own column
MEAN_COLUMNS = {"severity": "norm", "norm": "norm"}
#: statistics of the *found* perturbations (PerturbationStats): compared on the samples where the
#: probe succeeded in both jobs
SUCCESSFUL_ONLY = frozenset({"latent_norm", "norm_growth", "image_l2s", "image_l1"})
COMPARISON_COLUMNS = ("probe", "metric", "reference", "value", "difference", "ci_low", "ci_high",
                      "p_value", "p_holm", "significant", "test", "n")


class SamplesNotShared(ConfigError):
    """Two jobs to compare did not evaluate the same samples; the message says what differs."""


@dataclass
class CompareSpec:
    """The comparison table (``conf/table/compare.yaml``; ``table=compare``).

    Args:
        reference: the swept parameters that pick the reference row, e.g. ``{training: standard}``
            (``table.reference.training=standard``); every other job is compared with the
            reference job that agrees with it on all the other swept parameters.
        metrics: ``accuracy`` (McNemar), ``worst_class_accuracy``, ``classwise_accuracy_spread``,
            ``classwise_accuracy_std`` (paired stratified bootstrap), ``severity``/``norm`` (paired
            ``norm_test`` on the per-sample norms) or the name of any other per-sample column
            (its mean, e.g. ``noise_accuracy``, ``image_l2s``: the latter, a statistic of the found
            perturbations, on the samples where the probe succeeded in both jobs); ``<probe>/<metric>``
            compares one probe only.
        probes: the probes to compare; empty = every probe both jobs have.
        level: the level of the difference's interval.
        alpha: the family-wise error rate: ``*`` marks Holm-adjusted p-values below it.
        norm_test: ``t`` (paired t-test) or ``wilcoxon`` (signed-rank) for means.
        n_resamples / seed: the paired bootstraps.
        format / decimals / scale / caption: as for :class:`~robustlens.report.tables.TableSpec`.
    """

    reference: dict[str, Any] = field(default_factory=dict)
    metrics: list[str] = field(default_factory=lambda: ["accuracy", "worst_class_accuracy", "severity"])
    probes: list[str] = field(default_factory=list)
    level: Level = 0.95
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    norm_test: NormTest = "t"
    n_resamples: Annotated[int, Field(ge=100)] = 2000
    seed: int = 0
    format: Literal["markdown", "latex", "both"] = "markdown"
    decimals: Annotated[int, Field(ge=0, le=12)] = 4
    scale: Annotated[float, Field(gt=0)] = 1.0
    caption: str | None = None

    def __post_init__(self) -> None:
        self.reference, self.metrics, self.probes = dict(self.reference), list(self.metrics), list(self.probes)

    def metrics_of(self, probe: str) -> list[str]:
        """The metrics compared for ``probe``: plain names and ``<probe>/<metric>`` entries."""
        return [m.split("/", 1)[1] if "/" in m else m for m in self.metrics
                if "/" not in m or m.split("/", 1)[0] == probe]


def _norm(value: Any) -> str:
    """One spelling per parameter value: ``1``, ``1.0`` and ``"1"`` all read ``1``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(number)) if number.is_integer() else repr(number)


def pair_jobs(records: list[JobRecord], reference: dict[str, Any]) -> list[tuple[JobRecord, JobRecord]]:
    """``(reference job, other job)`` for every complete job that is not a reference job."""
    if not reference:
        raise ConfigError("table=compare needs a reference row, e.g. `+table.reference.training=standard`")
    jobs = [r for r in records if r.status == "complete"]
    missing = [k for k in reference if not any(k in r.params for r in jobs)]
    if missing:
        swept = sorted({k for r in jobs for k in r.params})
        raise ConfigError(f"table.reference names {missing}, which no job sweeps; the swept parameters are {swept}")

    def is_reference(r: JobRecord) -> bool:
        return all(_norm(r.params.get(k)) == _norm(v) for k, v in reference.items())

    refs = [r for r in jobs if is_reference(r)]
    if not refs:
        values = sorted({f"{k}={_norm(r.params.get(k))}" for r in jobs for k in reference})
        raise ConfigError(f"no job has {reference}; the jobs have {values}")

    def rest(r: JobRecord) -> dict[str, str]:
        return {k: _norm(v) for k, v in r.params.items() if k not in reference}

    pairs = []
    for job in (r for r in jobs if not is_reference(r)):
        matches = [ref for ref in refs if rest(ref) == rest(job)]
        if len(matches) != 1:
            raise SamplesNotShared(
                f"job {job.job} has {len(matches)} reference jobs with the same other parameters {rest(job)} "
                "(need exactly one): sweep the same values in the reference row"
            )
        pairs.append((matches[0], job))
    return pairs


def _data_config(record: JobRecord) -> dict[str, Any]:
    config = (record.payload or {}).get("config") or {}
    data = config.get("data") or {}
    return {k: v for k, v in data.items() if k not in SAMPLE_NEUTRAL_DATA_KEYS}


def check_shared_samples(reference: JobRecord, other: JobRecord) -> None:
    """Refuse (:class:`SamplesNotShared`) two jobs whose data config or seed differ."""
    why = []
    ref_data, other_data = _data_config(reference), _data_config(other)
    for key in sorted(set(ref_data) | set(other_data)):
        if ref_data.get(key) != other_data.get(key):
            why.append(f"data.{key} differs ({ref_data.get(key)!r} vs {other_data.get(key)!r})")
    ref_seed, other_seed = (reference.payload or {}).get("seed"), (other.payload or {}).get("seed")
    if ref_seed != other_seed:
        why.append(f"seed differs ({ref_seed!r} vs {other_seed!r})")
    if not (reference.path / PER_SAMPLE_FILE).is_file() or not (other.path / PER_SAMPLE_FILE).is_file():
        why.append(f"{PER_SAMPLE_FILE} is missing (an evaluation writes it beside results.json)")
    if why:
        raise SamplesNotShared(_refusal(reference, other, why))


def _refusal(reference: JobRecord, other: JobRecord, why: list[str]) -> str:
    return (f"cannot compare job {other.job} with reference {reference.job}: they do not share samples: "
            + "; ".join(why) + ". Compare jobs evaluated on the same data, subset and seed")


def _probe_pairs(reference: JobRecord, other: JobRecord, ref_table: pd.DataFrame, other_table: pd.DataFrame,
                 probes: list[str]) -> dict[str, pd.DataFrame]:
    """Per probe, the two jobs' per-sample columns joined on the sample index (suffixes ``_ref``/``_job``).

    A probe whose two jobs saw different samples (indices or labels) is refused: the per-sample
    table is the final word on sharing, whatever the configs say."""
    names = sorted({c.split("/", 1)[0] for c in ref_table.columns if "/" in c}
                   & {c.split("/", 1)[0] for c in other_table.columns if "/" in c})
    if probes:
        names = [p for p in probes if p in names]
    out = {}
    for probe in names:
        ref, oth = _probe_rows(ref_table, probe), _probe_rows(other_table, probe)
        a = ref[["index", "label"]].sort_values("index").to_numpy()
        b = oth[["index", "label"]].sort_values("index").to_numpy()
        if a.shape != b.shape or not np.array_equal(a, b):
            raise SamplesNotShared(_refusal(reference, other, [
                f"probe {probe} evaluated {len(a)} vs {len(b)} samples with different indices or labels"]))
        out[probe] = ref.merge(oth, on=["index", "label"], suffixes=("_ref", "_job")).sort_values("index")
    return out


def _probe_rows(table: pd.DataFrame, probe: str) -> pd.DataFrame:
    """``index``, ``label`` and ``<probe>/...`` of the samples the probe evaluated (a merged
    per-sample table has empty cells where a probe saw no sample)."""
    cols = [c for c in table.columns if c.startswith(f"{probe}/")]
    evaluated = table[cols].notna().any(axis=1)
    return table.loc[evaluated, ["index", "label", *cols]]


def _difference(pairs: pd.DataFrame, probe: str, metric: str, spec: CompareSpec, num_classes: int
                ) -> PairedDifference | None:
    """The paired comparison of one metric of one probe, or ``None`` when the columns are not there."""

    def column(name: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Both jobs' values of ``<probe>/<name>`` (the join suffixed the columns both have)."""
        key = f"{probe}/{name}"
        if f"{key}_ref" not in pairs:
            return None
        return pairs[f"{key}_ref"].to_numpy(float), pairs[f"{key}_job"].to_numpy(float)

    if metric in CLASS_SUMMARY_STATISTICS or metric == "accuracy":
        return _verdict_difference(pairs, metric, spec, num_classes, column)
    values = column(MEAN_COLUMNS.get(metric, metric))
    success = column("success")
    if values is None or (metric in SUCCESSFUL_ONLY and success is None):
        return None
    if metric in SUCCESSFUL_ONLY:  # a perturbation that was not found has no size to compare
        both = (success[0] == 1) & (success[1] == 1)
        values = (np.where(both, values[0], np.nan), np.where(both, values[1], np.nan))
    return paired_mean_difference(*values, spec.norm_test, spec.level, spec.n_resamples, spec.seed)


def _verdict_difference(pairs: pd.DataFrame, metric: str, spec: CompareSpec, num_classes: int,
                        column: Any) -> PairedDifference | None:
    """Accuracy (McNemar) or a class summary (paired stratified bootstrap) from the predictions;
    LLNA's accuracy, a per-image rate over noise draws, is compared as a mean."""
    labels = pairs["label"].to_numpy(int)
    score = column("accuracy")
    if score is not None and not np.isin(np.concatenate(score), (0.0, 1.0)).all():
        if metric != "accuracy":
            return None
        return paired_mean_difference(*score, spec.norm_test, spec.level, spec.n_resamples, spec.seed)
    preds = column("pred")
    if preds is None:
        return None
    verdicts = preds[0] == labels, preds[1] == labels
    if metric == "accuracy":
        return paired_rate_difference(*verdicts, spec.level, spec.n_resamples, spec.seed)
    return paired_class_summary_difference(*verdicts, labels, CLASS_SUMMARY_STATISTICS[metric], num_classes,
                                           spec.level, spec.n_resamples, spec.seed)


def build_comparison(records: list[JobRecord], spec: CompareSpec) -> pd.DataFrame:
    """The comparison table: one row per (job, probe, metric) with the columns of
    :data:`COMPARISON_COLUMNS` after ``job``, ``reference_job`` and the swept parameters."""
    pairs = pair_jobs(records, spec.reference)
    if not pairs:
        raise ConfigError(f"every job matches the reference {spec.reference}: there is nothing to compare")
    tables: dict[str, pd.DataFrame] = {}

    def per_sample(record: JobRecord) -> pd.DataFrame:
        if record.job not in tables:
            tables[record.job] = pd.read_csv(record.path / PER_SAMPLE_FILE)
        return tables[record.job]

    param_names = sorted({k for _, r in pairs for k in r.params})
    rows = []
    for reference, job in pairs:
        check_shared_samples(reference, job)
        ref_table, job_table = per_sample(reference), per_sample(job)
        num_classes = int(max(ref_table["label"].max(), job_table["label"].max())) + 1
        for probe, joined in _probe_pairs(reference, job, ref_table, job_table, spec.probes).items():
            for metric in spec.metrics_of(probe):
                d = _difference(joined, probe, metric, spec, num_classes)
                if d is None:
                    continue
                rows.append({"job": job.job, "reference_job": reference.job,
                             **{p: job.params.get(p, math.nan) for p in param_names},
                             "probe": probe, "metric": metric, "reference": d.reference, "value": d.other,
                             "difference": d.difference, "ci_low": d.ci_low, "ci_high": d.ci_high,
                             "p_value": d.p_value, "test": d.test, "n": d.n})
    columns = ["job", "reference_job", *param_names, *COMPARISON_COLUMNS]
    frame = pd.DataFrame(rows, columns=columns)
    if frame.empty:
        raise ConfigError(f"no probe of the compared jobs has the per-sample columns of {spec.metrics}")
    found = set(frame["metric"]) | set(frame["probe"] + "/" + frame["metric"])
    unmatched = [m for m in spec.metrics if m not in found]
    if unmatched:  # a misspelt metric would otherwise just be missing rows
        log.warning("compare: metrics %s match no per-sample column of the compared probes", unmatched)
    frame["p_holm"] = holm(frame["p_value"].to_numpy(float))
    frame["significant"] = frame["p_holm"] < spec.alpha
    return frame


def format_comparison(frame: pd.DataFrame, spec: CompareSpec) -> pd.DataFrame:
    """The table as strings: values scaled and rounded, ``[low, high]``, p-values, ``*`` where significant."""
    d, s = spec.decimals, spec.scale
    params = [c for c in frame.columns if c not in ("job", "reference_job", *COMPARISON_COLUMNS)]

    def number(x: float) -> str:
        return "–" if pd.isna(x) else f"{x * s:.{d}f}"

    def p_text(x: float) -> str:
        return "–" if pd.isna(x) else f"{x:.2g}" if x < 0.001 else f"{x:.3f}"

    out = pd.DataFrame({
        **{p: frame[p].map(_norm) for p in params},
        "probe": frame["probe"], "metric": frame["metric"],
        "reference": frame["reference"].map(number), "value": frame["value"].map(number),
        "difference": [f"{number(x)}{' *' if sig else ''}" for x, sig in zip(frame["difference"], frame["significant"],
                                                                              strict=True)],
        f"{spec.level:.0%} interval": [f"[{number(lo)}, {number(hi)}]" for lo, hi in
                                       zip(frame["ci_low"], frame["ci_high"], strict=True)],
        "p": frame["p_value"].map(p_text), "p (Holm)": frame["p_holm"].map(p_text), "test": frame["test"],
    })
    return out


def comparison_markdown(frame: pd.DataFrame, spec: CompareSpec) -> str:
    """A pipe table with a note on how to read it."""
    cells = format_comparison(frame, spec)
    header = list(cells.columns)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" if c in ("probe", "metric", "test") else "---:"
                                                              for c in header) + "|"]
    lines += ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |"
              for row in cells.itertuples(index=False, name=None)]
    reference = ", ".join(f"{k}={v}" for k, v in spec.reference.items())
    note = (f"difference = job − reference ({reference}) on the same samples; * = significant at "
            f"α = {spec.alpha} after Holm's correction over the {len(frame)} tests of this table")
    if spec.caption:
        lines = [f"**{spec.caption}**", "", *lines]
    return "\n".join([*lines, "", note]) + "\n"


def comparison_latex(frame: pd.DataFrame, spec: CompareSpec) -> str:
    cells = format_comparison(frame, spec).map(lambda t: str(t).replace("_", r"\_").replace("±", r"$\pm$"))
    cells.columns = [str(c).replace("%", r"\%") for c in cells.columns]
    return cells.to_latex(index=False, escape=False, caption=spec.caption)


def comparison_rich(frame: pd.DataFrame, spec: CompareSpec, width: int = 80) -> list:
    cells = format_comparison(frame, spec)
    labels = [c for c in cells.columns if c not in ("reference", "value", "difference", "p", "p (Holm)", "test")
              and not c.endswith("interval")]
    columns = [Column(c, [str(v) for v in cells[c]], label=True) for c in labels]
    columns += [Column(c, [str(v) for v in cells[c]], justify="right") for c in cells.columns if c not in labels]
    title = spec.caption or f"difference to {', '.join(f'{k}={v}' for k, v in spec.reference.items())}"
    return fit_tables(columns, width=width, title=title,
                      caption=f"* significant at α = {spec.alpha} after Holm's correction (paired tests)")


__all__ = [
    "CompareSpec",
    "SamplesNotShared",
    "build_comparison",
    "check_shared_samples",
    "comparison_latex",
    "comparison_markdown",
    "comparison_rich",
    "format_comparison",
    "pair_jobs",
]
