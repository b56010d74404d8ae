"""Every metric against its definition, in one process and in two DDP processes, from one table.

A row of :data:`CASES` is (id, metric factory, seeded data, reference): the reference computes the
expected values with numpy straight from ``docs/metrics.md``, never through robustlens. Each row
runs in one process (batches of 13) and on 2 gloo ranks that each update an interleaved half
(batches of 8); both must equal the reference, so neither the split nor the batching may change
a value. All rows share one 2-process spawn (``ddp_runs``). Adding a metric = adding a row.

Every headline value's interval (``<key>/ci_low``, ``<key>/ci_high``, ``docs/metrics.md``) is in the
references too, from scipy (Wilson: ``binomtest(k, n).proportion_ci("wilson")``; Student t:
``t.interval``) or, for the class summaries, the class-stratified bootstrap written out in numpy
(each class's correct count redrawn from ``Binomial(n_c, acc_c)``, seed 0, 1000 resamples, the
default options): so one process and two must give the same intervals, too.

Edge cases the data carry: class 4 has no samples (its rates are NaN), one dataset has no error
at all, and the per-sample metrics see 4 sample indices twice, each copy on the other rank than
its original (a padding sampler's repeats): they must count each once and warn.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torchmetrics import Metric

from robustlens.evaluation.worst_case import WorstCaseAccuracy
from robustlens.metrics.accuracy import Accuracy, ClasswiseAccuracy, ClasswiseFairness
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.classwise import (
    ClassFalseScores,
    ConfusionMatrix,
    ErrorFlow,
    FlipRate,
    TargetedSuccessMatrix,
)
from robustlens.metrics.fairness import AdversarialFlow, BoundaryError, ClasswiseDispersion
from robustlens.metrics.great import GreatScore
from robustlens.metrics.latent import LatentAccuracy, LatentSeverity, PerturbationStats
from robustlens.metrics.latent_structure import LatentStructure
from robustlens.metrics.perturbation import NormStatistics, RobustAccuracyCurve
from robustlens.metrics.validity import OutOfRangeFraction
from tests.metrics.metric_tester import (
    MetricCase,
    assert_matches_reference,
    run_single,
    run_table_ddp,
    take,
)

N, K, D = 60, 5, 4  # samples, classes (class 4 has none), feature size
ABSENT = 4
LATENT_CAP = 7  # LatentStructure's per-class cap; ~15 samples per class, so it binds
EPS_GRID = [0.0, 0.1, 0.25, 0.5]
#: appended copies of these positions: each copy's position (60..63) is on the other rank
REPEATED = [1, 2, 5, 4]
NAN = math.nan

# ------------------------------------------------------------------------------------- data


def classification(seed: int = 123, perfect: bool = False) -> ProbeOutput:
    """Labels of classes 0-3, predictions right about half the time, clean predictions,
    targeted-attack successes and 4-d inputs; sample indices shuffled and offset."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, K - 1, (N,), generator=gen)
    guess = torch.randint(0, K, (N,), generator=gen)
    preds = labels.clone() if perfect else torch.where(torch.rand(N, generator=gen) < 0.5, labels, guess)
    return ProbeOutput(
        index=torch.randperm(N, generator=gen) + 1000,
        labels=labels,
        preds=preds,
        clean_preds=torch.where(torch.rand(N, generator=gen) < 0.7, labels, torch.randint(0, K, (N,), generator=gen)),
        values={
            "targeted_success": torch.rand(N, K, generator=gen) < 0.4,
            "pgd_correct": torch.rand(N, generator=gen) < 0.6,
            "fgsm_correct": torch.rand(N, generator=gen) < 0.6,
        },
        inputs=torch.randn(N, D, generator=gen),
    )


def perturbed(seed: int = 5) -> ProbeOutput:
    """Per-sample sizes on a 0.05 grid (so some equal an ε of the curve exactly, in float32),
    unfound minimal norms (inf), NaN norms, success flags, Paper A's values, with 4 repeats."""
    gen = torch.Generator().manual_seed(seed)
    base = classification(seed)
    norm = (torch.randint(0, 12, (N,), generator=gen) * 0.05).float()
    norm[::9] = NAN
    min_norm = norm.clone()
    min_norm[1::6] = math.inf
    values = {name: torch.rand(N, generator=gen).float() for name in ("latent_norm", "norm_growth", "image_l2s", "image_l1")}
    values.update(
        min_norm=min_norm,
        accuracy=torch.randint(0, 5, (N,), generator=gen).float() / 4,  # LLNA's rate over 4 noise draws
        out_of_range=torch.rand(N, generator=gen) < 0.3,
    )
    full = ProbeOutput(
        index=base.index, labels=base.labels, preds=base.preds, clean_preds=base.clean_preds,
        success=torch.rand(N, generator=gen) < 0.6, norm=norm, values=values, inputs=base.inputs,
    )
    return take(full, torch.cat([torch.arange(N), torch.tensor(REPEATED)]))


def with_repeats(make: Callable[[], ProbeOutput]) -> Callable[[], ProbeOutput]:
    return lambda: take(make(), torch.cat([torch.arange(N), torch.tensor(REPEATED)]))


def feature_model() -> nn.Module:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, K))
    model.penultimate_layer = "1"  # the Tanh's output
    return model.eval()


# ------------------------------------------------------------------------ references (numpy)


def arrays(o: ProbeOutput, unique: bool = False) -> dict[str, np.ndarray]:
    """The per-sample fields as numpy; ``unique`` keeps one row per sample index (first seen)."""
    cols = {"index": o.index, "labels": o.labels, "preds": o.preds, "clean_preds": o.clean_preds,
            "success": o.success, "norm": o.norm, "inputs": o.inputs, **o.values}
    out = {k: v.numpy() for k, v in cols.items() if v is not None}
    if unique:
        _, first = np.unique(out["index"], return_index=True)
        out = {k: v[first] for k, v in out.items()}
    return out


def per_class_mean(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.array([values[labels == c].mean() if (labels == c).any() else NAN for c in range(K)])


def confusion(a: dict[str, np.ndarray]) -> np.ndarray:
    m = np.zeros((K, K), dtype=np.int64)
    for y, p in zip(a["labels"], a["preds"], strict=True):
        m[y, p] += 1
    return m


def summary_stats(name: str, v: np.ndarray) -> dict[str, float]:
    """Mean, population std, min, linear quartiles, max (NumPy's defaults; NaN when empty)."""
    v = v.astype(np.float64)
    if v.size == 0:
        return {name + s: NAN for s in ("", "_std", "_min", "_q25", "_median", "_q75", "_max")}
    q25, q50, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return {name: v.mean(), f"{name}_std": v.std(), f"{name}_min": v.min(), f"{name}_q25": q25,
            f"{name}_median": q50, f"{name}_q75": q75, f"{name}_max": v.max()}


# ------------------------------------------------------------------- reference intervals (scipy)


def wilson(successes: np.ndarray | float, n: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """scipy's Wilson interval element by element (NaN without samples)."""
    k, m = np.atleast_1d(np.asarray(successes)), np.atleast_1d(np.asarray(n))
    bounds = [stats.binomtest(int(a), int(b)).proportion_ci(method="wilson") if b else (NAN, NAN)
              for a, b in zip(k, m, strict=True)]
    low, high = np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])
    return (low[0], high[0]) if np.ndim(successes) == 0 else (low, high)


def t_bounds(v: np.ndarray) -> tuple[float, float]:
    v = np.asarray(v, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size < 2:
        return NAN, NAN
    return stats.t.interval(0.95, v.size - 1, v.mean(), v.std(ddof=1) / np.sqrt(v.size))


def per_class_t(values: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bounds = [t_bounds(values[labels == c]) for c in range(K)]
    return np.array([b[0] for b in bounds]), np.array([b[1] for b in bounds])


def ci(key: str, bounds: tuple) -> dict:
    return {f"{key}/ci_low": bounds[0], f"{key}/ci_high": bounds[1]}


def wilson_ci(key: str, verdicts: np.ndarray, labels: np.ndarray | None = None) -> dict:
    """The Wilson interval of the share of ``verdicts`` (per class when ``labels`` is given)."""
    verdicts = verdicts.astype(bool)
    if labels is None:
        return ci(key, wilson(verdicts.sum(), verdicts.size))
    return ci(key, wilson(np.bincount(labels[verdicts], minlength=K), np.bincount(labels, minlength=K)))


def mean_ci(key: str, values: np.ndarray, labels: np.ndarray) -> dict:
    """The t intervals of the mean of ``values`` and of its per-class means (``classwise_<key>``)."""
    return {**ci(key, t_bounds(values)), **ci(f"classwise_{key}", per_class_t(values.astype(float), labels))}


def class_bootstrap_ci(correct: np.ndarray, labels: np.ndarray) -> dict:
    """The class summaries' intervals: every class's correct count redrawn from Binomial(n_c, acc_c)."""
    n = np.bincount(labels, minlength=K)
    k = np.bincount(labels[correct], minlength=K)
    draws = np.random.default_rng(0).binomial(n, np.where(n > 0, k / np.maximum(n, 1), 0), size=(1000, K))
    rates = np.where(n > 0, draws / np.maximum(n, 1), NAN)[:, n > 0]
    summaries = {"worst_class_accuracy": rates.min(axis=1),
                 "classwise_accuracy_spread": rates.max(axis=1) - rates.min(axis=1),
                 "classwise_accuracy_std": rates.std(axis=1)}
    return {key: v for name, s in summaries.items() for key, v in ci(name, np.quantile(s, [0.025, 0.975])).items()}


def ref_accuracy(o: ProbeOutput) -> dict:
    a = arrays(o)
    return {"accuracy": np.mean(a["preds"] == a["labels"]), **wilson_ci("accuracy", a["preds"] == a["labels"])}


def ref_classwise_accuracy(o: ProbeOutput) -> dict:
    a = arrays(o)
    return {"classwise_accuracy": per_class_mean((a["preds"] == a["labels"]).astype(float), a["labels"]),
            **wilson_ci("classwise_accuracy", a["preds"] == a["labels"], a["labels"])}


def ref_fairness(o: ProbeOutput) -> dict:
    a = arrays(o)
    acc = {c: np.mean(a["preds"][a["labels"] == c] == c) for c in range(K) if (a["labels"] == c).any()}
    worst = min(acc, key=lambda c: (acc[c], c))
    wrong = a["preds"][(a["labels"] == worst) & (a["preds"] != worst)]
    counts = np.bincount(wrong, minlength=K)
    return {
        "worst_class_accuracy": acc[worst],
        "worst_class": np.int64(worst),
        "classwise_accuracy_spread": max(acc.values()) - min(acc.values()),
        "classwise_accuracy_std": np.std(list(acc.values())),
        "worst_class_top_confusion": np.int64(counts.argmax() if wrong.size else -1),
        "worst_class_top_confusion_share": counts.max() / wrong.size if wrong.size else NAN,
        **class_bootstrap_ci(a["preds"] == a["labels"], a["labels"]),
    }


def ref_dispersion(o: ProbeOutput) -> dict:
    a = arrays(o)
    acc = np.array([np.mean(a["preds"][a["labels"] == c] == c) for c in range(K) if (a["labels"] == c).any()])
    gini = np.abs(acc[:, None] - acc[None, :]).sum() / (2 * len(acc) ** 2 * acc.mean())
    return {
        "average_class_accuracy": acc.mean(),
        "best_class_accuracy": acc.max(),
        "best_class": np.int64(int(np.argmax(acc))),  # classes 0..3 are the present ones, in order
        "classwise_accuracy_variance": np.var(acc),
        "classwise_accuracy_cv": np.std(acc) / acc.mean(),
        "classwise_accuracy_gini": gini,
        **dispersion_bootstrap_ci(a["preds"] == a["labels"], a["labels"]),
    }


def dispersion_bootstrap_ci(correct: np.ndarray, labels: np.ndarray) -> dict:
    """The dispersion summaries' intervals: the class bootstrap of ``class_bootstrap_ci``."""
    n = np.bincount(labels, minlength=K)
    k = np.bincount(labels[correct], minlength=K)
    draws = np.random.default_rng(0).binomial(n, np.where(n > 0, k / np.maximum(n, 1), 0), size=(1000, K))
    r = (draws / np.maximum(n, 1))[:, n > 0]
    mean = r.mean(axis=1)
    summaries = {"average_class_accuracy": mean, "best_class_accuracy": r.max(axis=1),
                 "classwise_accuracy_variance": r.var(axis=1), "classwise_accuracy_cv": r.std(axis=1) / mean,
                 "classwise_accuracy_gini": np.abs(r[:, :, None] - r[:, None, :]).sum(axis=(1, 2))
                 / (2 * r.shape[1] ** 2 * mean)}
    return {key: v for name, s in summaries.items() for key, v in ci(name, np.quantile(s, [0.025, 0.975])).items()}


def ref_boundary_error(o: ProbeOutput) -> dict:
    a = arrays(o)
    crossed = ((a["clean_preds"] == a["labels"]) & (a["preds"] != a["labels"])).astype(float)
    return {"boundary_error": crossed.mean(), "classwise_boundary_error": per_class_mean(crossed, a["labels"]),
            **wilson_ci("boundary_error", crossed), **wilson_ci("classwise_boundary_error", crossed, a["labels"])}


def ref_adversarial_flow(o: ProbeOutput) -> dict:
    a = arrays(o)
    flows = np.zeros((K, K), dtype=np.int64)
    for y, clean, pred in zip(a["labels"], a["clean_preds"], a["preds"], strict=True):
        if clean == y and pred != y:
            flows[y, pred] += 1
    total, rows = flows.sum(), flows.sum(axis=1, keepdims=True)
    return {
        "adversarial_flow": flows,
        "adversarial_flow_share": np.where(rows > 0, flows / np.maximum(rows, 1), NAN),
        "adversarial_sent": flows.sum(axis=1) / total if total else np.zeros(K),
        "adversarial_received": flows.sum(axis=0) / total if total else np.zeros(K),
    }


def great_data() -> ProbeOutput:
    """Local GREAT scores in [0, √(π/2)], 0 where the generated sample is misclassified; with repeats."""
    o = perturbed()
    gen = torch.Generator().manual_seed(11)
    score = torch.rand(N, generator=gen, dtype=torch.float64)[torch.cat([torch.arange(N), torch.tensor(REPEATED)])]
    score = score * math.sqrt(math.pi / 2)  # a repeated sample repeats its score, as a padding sampler would
    return ProbeOutput(index=o.index, labels=o.labels, preds=o.preds,
                       values={"great_score": torch.where(o.correct, score, torch.zeros_like(score))})


def ref_great_score(o: ProbeOutput) -> dict:
    a = arrays(o, unique=True)
    v = a["great_score"]
    half = math.sqrt(math.pi / 2) * math.sqrt(math.log(2 / 0.05) / (2 * v.size))  # Hoeffding, level 0.95
    return {**summary_stats("great_score", v), "classwise_great_score": per_class_mean(v, a["labels"]),
            **ci("great_score", t_bounds(v)),
            "great_score_hoeffding_low": max(v.mean() - half, 0.0),
            "great_score_hoeffding_high": min(v.mean() + half, math.sqrt(math.pi / 2))}


def ref_confusion(o: ProbeOutput) -> dict:
    m = confusion(arrays(o))
    rows = m.sum(axis=1, keepdims=True)
    return {"confusion": m, "confusion_normalized": np.where(rows > 0, m / np.maximum(rows, 1), NAN)}


def ref_class_false_scores(o: ProbeOutput) -> dict:
    a = arrays(o)
    wrong = a["preds"] != a["labels"]
    n = int(wrong.sum())
    landed = np.array([np.sum(wrong & (a["preds"] == c)) for c in range(K)])
    source = np.array([np.sum(wrong & (a["labels"] == c)) for c in range(K)])
    return {"cfps": landed / n if n else np.zeros(K), "cfns": source / n if n else np.zeros(K),
            "num_errors": np.int64(n)}


def ref_error_flow(o: ProbeOutput) -> dict:
    m = confusion(arrays(o))
    flows = sorted(((a, b, m[a, b]) for a in range(K) for b in range(K) if a != b and m[a, b]),
                   key=lambda f: (-f[2], f[0], f[1]))
    top, share = [], []
    for a in range(K):
        errors = [m[a, b] if b != a else 0 for b in range(K)]
        total = sum(errors)
        top.append(errors.index(max(errors)) if total else -1)
        share.append(max(errors) / total if total else NAN)
    return {"error_flow": np.array(flows, dtype=np.int64).reshape(-1, 3), "top_attractor": np.array(top),
            "top_attractor_share": np.array(share)}


def ref_flip_rate(o: ProbeOutput) -> dict:
    a = arrays(o)
    flipped = (a["preds"] != a["clean_preds"]).astype(float)
    return {"flip_rate": flipped.mean(), "classwise_flip_rate": per_class_mean(flipped, a["labels"]),
            **wilson_ci("flip_rate", flipped), **wilson_ci("classwise_flip_rate", flipped, a["labels"])}


def ref_targeted_success(o: ProbeOutput) -> dict:
    a = arrays(o)
    hits = a["targeted_success"].astype(float)
    matrix = np.array([[NAN if t == s or not (a["labels"] == s).any() else hits[a["labels"] == s, t].mean()
                        for t in range(K)] for s in range(K)])
    off = ~np.eye(K, dtype=bool)[a["labels"]]  # the attempts at another class than the own
    return {"targeted_success": matrix, "targeted_success_rate": hits[off].mean()}


def silhouette(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-sample silhouette ``(b - a) / max(a, b)`` (0 for a sample alone in its class)."""
    dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
    s = np.zeros(len(x))
    for i in range(len(x)):
        same = (y == y[i]) & (np.arange(len(x)) != i)
        if not same.any():
            continue
        a = dist[i, same].mean()
        b = min(dist[i, y == c].mean() for c in np.unique(y) if c != y[i])
        s[i] = (b - a) / max(a, b)
    return s


def ref_latent_structure(o: ProbeOutput) -> dict:
    a = arrays(o, unique=True)  # sorted by sample index
    keep = np.concatenate([np.flatnonzero(a["labels"] == c)[:LATENT_CAP] for c in range(K)])
    keep.sort()
    layer = feature_model()[0]
    x = np.tanh(a["inputs"][keep].astype(np.float64) @ layer.weight.detach().double().numpy().T
                + layer.bias.detach().double().numpy())
    y, present = a["labels"][keep], [c for c in range(K) if (a["labels"][keep] == c).any()]
    mu = np.array([x[y == c].mean(axis=0) if c in present else np.full(x.shape[1], NAN) for c in range(K)])
    cdist = np.linalg.norm(mu[:, None] - mu[None], axis=-1)  # NaN rows/columns for absent classes
    nearest = np.array([present[np.argmin([np.linalg.norm(v - mu[c]) for c in present])] for v in x])
    sep = [min(cdist[c, b] for b in present if b != c) if c in present else NAN for c in range(K)]
    s = silhouette(x, y)
    return {
        "centroid_distance": cdist,
        "nearest_centroid_accuracy": np.mean(nearest == y),
        "nearest_centroid_matrix": np.array(
            [[np.mean(nearest[y == c] == b) if c in present else NAN for b in range(K)] for c in range(K)]
        ),
        "compactness": per_class_mean(np.linalg.norm(x - mu[y], axis=1), y),
        "separation": np.array(sep),
        "silhouette": s.mean(),
        "classwise_silhouette": per_class_mean(s, y),
        "latent_count": np.bincount(y, minlength=K),
        "kept_index": a["index"][keep],
    }


def ref_norm_statistics(successful_only: bool, name: str) -> Callable[[ProbeOutput], dict]:
    def reference(o: ProbeOutput) -> dict:
        a = arrays(o, unique=True)
        norm = a["norm"][a["success"]] if successful_only else a["norm"]
        return {**summary_stats(name, norm[~np.isnan(norm)]), **ci(name, t_bounds(norm))}

    return reference


def ref_robust_accuracy_curve(from_min_norm: bool) -> Callable[[ProbeOutput], dict]:
    def reference(o: ProbeOutput) -> dict:
        a = arrays(o, unique=True)
        mn = a["min_norm"] if from_min_norm else np.where(a["success"], a["norm"], np.inf).astype(np.float32)
        correct = a["clean_preds"] == a["labels"]
        # robust at eps: clean-correct and minimal norm > eps, compared in float32 as the norms are
        out = {}
        for e in EPS_GRID:
            robust = correct & (mn > np.float32(e))
            out.update({f"robust_accuracy@{e:g}": robust.mean(), **wilson_ci(f"robust_accuracy@{e:g}", robust)})
        return out

    return reference


def ref_latent_accuracy(use_rate: bool) -> Callable[[ProbeOutput], dict]:
    def reference(o: ProbeOutput) -> dict:
        a = arrays(o, unique=True)
        score = a["accuracy"].astype(float) if use_rate else (a["preds"] == a["labels"]).astype(float)
        # LLNA's per-image rates are means (t); verdicts are counts (Wilson)
        intervals = (mean_ci("accuracy", score, a["labels"]) if use_rate else
                     {**wilson_ci("accuracy", score), **wilson_ci("classwise_accuracy", score, a["labels"])})
        return {"accuracy": score.mean(), "classwise_accuracy": per_class_mean(score, a["labels"]), **intervals}

    return reference


def ref_latent_severity(o: ProbeOutput) -> dict:
    a = arrays(o, unique=True)
    norm = np.nan_to_num(a["norm"], nan=0.25)  # see latent_severity_data: the search's final norms
    return {**summary_stats("severity", norm), "classwise_severity": per_class_mean(norm.astype(float), a["labels"]),
            **mean_ci("severity", norm, a["labels"])}


def ref_perturbation_stats(keys: list[str], only_successful: bool) -> Callable[[ProbeOutput], dict]:
    def reference(o: ProbeOutput) -> dict:
        a = arrays(o, unique=True)
        rows = a["success"] if only_successful else np.ones(len(a["index"]), dtype=bool)
        out: dict = {}
        for k in keys:
            out.update(summary_stats(k, a[k][rows]))
            out[f"classwise_{k}"] = per_class_mean(a[k][rows].astype(float), a["labels"][rows])
            out.update(mean_ci(k, a[k][rows], a["labels"][rows]))
        return out

    return reference


def ref_out_of_range(o: ProbeOutput) -> dict:
    a = arrays(o, unique=True)
    return {"out_of_range_fraction": a["out_of_range"].mean(), **wilson_ci("out_of_range_fraction", a["out_of_range"])}


def ref_worst_case(o: ProbeOutput) -> dict:
    a = arrays(o)
    robust = (a["pgd_correct"] & a["fgsm_correct"]).astype(float)  # pointwise: every attack failed
    return {"accuracy": robust.mean(), "classwise_accuracy": per_class_mean(robust, a["labels"]),
            **wilson_ci("accuracy", robust), **wilson_ci("classwise_accuracy", robust, a["labels"])}


# -------------------------------------------------------------------------- adapters, table


def latent_structure() -> LatentStructure:
    metric = LatentStructure(num_classes=K, max_samples=LATENT_CAP)
    metric.set_model(feature_model())
    return metric


def kept_samples(metric: Metric) -> dict[str, np.ndarray]:
    """Which samples LatentStructure kept: one process and two must keep the same."""
    return {"kept_index": metric.last_features["index"]}


def latent_severity_data() -> ProbeOutput:
    """A latent search reports a norm for every sample (no NaN): the unfound keep their final 0.25."""
    o = perturbed()
    return ProbeOutput(index=o.index, labels=o.labels, preds=o.preds, norm=torch.nan_to_num(o.norm, nan=0.25))


def feed_worst_case(metric: Metric, output: ProbeOutput) -> None:
    """WorstCaseAccuracy is fed per probe (it is not a ProbeMetric): two attacks' correctness."""
    for probe in ("pgd", "fgsm"):
        metric.update(probe, output.index, output.labels, output.values[f"{probe}_correct"])


PERTURBATION_KEYS = ["latent_norm", "norm_growth", "image_l2s", "image_l1"]

CASES: list[MetricCase] = [
    MetricCase("accuracy", lambda: Accuracy(K), classification, ref_accuracy),
    MetricCase("classwise_accuracy", lambda: ClasswiseAccuracy(K), classification, ref_classwise_accuracy),
    MetricCase("fairness", lambda: ClasswiseFairness(K), classification, ref_fairness),
    MetricCase("fairness_no_errors", lambda: ClasswiseFairness(K), lambda: classification(perfect=True), ref_fairness),
    MetricCase("dispersion", lambda: ClasswiseDispersion(K), classification, ref_dispersion),
    MetricCase("boundary_error", lambda: BoundaryError(K), classification, ref_boundary_error),
    MetricCase("adversarial_flow", lambda: AdversarialFlow(K), classification, ref_adversarial_flow),
    MetricCase("adversarial_flow_none", lambda: AdversarialFlow(K), lambda: classification(perfect=True),
               ref_adversarial_flow),
    MetricCase("great_score", lambda: GreatScore(K), great_data, ref_great_score, warns_duplicates=True),
    MetricCase("confusion", lambda: ConfusionMatrix(K), classification, ref_confusion),
    MetricCase("class_false_scores", lambda: ClassFalseScores(K), classification, ref_class_false_scores),
    MetricCase("class_false_scores_no_errors", lambda: ClassFalseScores(K), lambda: classification(perfect=True),
               ref_class_false_scores),
    MetricCase("error_flow", lambda: ErrorFlow(K), classification, ref_error_flow),
    MetricCase("error_flow_no_errors", lambda: ErrorFlow(K), lambda: classification(perfect=True), ref_error_flow),
    MetricCase("flip_rate", lambda: FlipRate(K), classification, ref_flip_rate),
    MetricCase("targeted_success", lambda: TargetedSuccessMatrix(K), classification, ref_targeted_success),
    MetricCase("latent_structure", latent_structure, classification, ref_latent_structure, observe=kept_samples,
               float32_keys=("centroid_distance", "separation")),
    MetricCase("latent_structure_repeats", latent_structure, with_repeats(classification), ref_latent_structure,
               observe=kept_samples, warns_duplicates=True, float32_keys=("centroid_distance", "separation")),
    MetricCase("norm_statistics", NormStatistics, perturbed, ref_norm_statistics(False, "norm"),
               warns_duplicates=True),
    MetricCase("norm_statistics_successful", lambda: NormStatistics(successful_only=True, name="severity"),
               perturbed, ref_norm_statistics(True, "severity"), warns_duplicates=True),
    MetricCase("robust_accuracy_curve", lambda: RobustAccuracyCurve(EPS_GRID), perturbed,
               ref_robust_accuracy_curve(from_min_norm=True), warns_duplicates=True),
    MetricCase("robust_accuracy_curve_from_norm", lambda: RobustAccuracyCurve(EPS_GRID),
               lambda: _without_value(perturbed(), "min_norm"), ref_robust_accuracy_curve(from_min_norm=False),
               warns_duplicates=True),
    MetricCase("latent_accuracy", lambda: LatentAccuracy(K), lambda: _without_value(perturbed(), "accuracy"),
               ref_latent_accuracy(use_rate=False), warns_duplicates=True),
    MetricCase("latent_accuracy_llna", lambda: LatentAccuracy(K), perturbed, ref_latent_accuracy(use_rate=True),
               warns_duplicates=True),
    MetricCase("latent_severity", lambda: LatentSeverity(K), latent_severity_data, ref_latent_severity,
               warns_duplicates=True),
    MetricCase("perturbation_stats", lambda: PerturbationStats(K), perturbed,
               ref_perturbation_stats(PERTURBATION_KEYS, only_successful=True), warns_duplicates=True),
    MetricCase("perturbation_stats_all", lambda: PerturbationStats(K, keys=["image_l1"], only_successful=False),
               perturbed, ref_perturbation_stats(["image_l1"], only_successful=False), warns_duplicates=True),
    MetricCase("out_of_range", OutOfRangeFraction, perturbed, ref_out_of_range),  # dedups without a warning
    MetricCase("worst_case", lambda: WorstCaseAccuracy(K, probes=["pgd", "fgsm"]), classification, ref_worst_case,
               feed=feed_worst_case),
]


def _without_value(o: ProbeOutput, name: str) -> ProbeOutput:
    return ProbeOutput(index=o.index, labels=o.labels, preds=o.preds, clean_preds=o.clean_preds,
                       success=o.success, norm=o.norm, values={k: v for k, v in o.values.items() if k != name})


# -------------------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """Every row on 2 gloo ranks, in one spawn (started only when a 2-process test runs)."""
    return run_table_ddp(__name__, "CASES", tmp_path_factory.mktemp("metric-table"))


@pytest.mark.parametrize("world_size", [1, pytest.param(2, marks=pytest.mark.ddp)])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_metric_equals_its_definition(case: MetricCase, world_size: int, request: pytest.FixtureRequest) -> None:
    if world_size == 1:
        assert_matches_reference(case, run_single(case), "1 process")
        return
    for rank, runs in enumerate(request.getfixturevalue("ddp_runs")):
        assert_matches_reference(case, runs[case.id], f"rank {rank} of 2")


def test_the_data_exercise_the_edge_cases() -> None:
    """The table is only as good as its data: an absent class, errors, flips, targeted hits,
    a binding latent cap, unfound and float32-equal minimal norms, repeats across ranks."""
    o = classification()
    assert ABSENT not in o.labels.tolist() and ABSENT in o.preds.tolist()
    assert 0 < o.correct.float().mean() < 1 and o.preds.ne(o.clean_preds).any()
    assert 0 < o.values["targeted_success"].float().mean() < 1
    assert (torch.bincount(o.labels, minlength=K)[:ABSENT] > LATENT_CAP).all()
    assert classification(perfect=True).correct.all()
    p = perturbed()
    mn = p.values["min_norm"]
    assert torch.isinf(mn).any() and torch.isnan(p.norm).any()
    assert any(bool((mn == torch.tensor(e, dtype=torch.float32)).any()) for e in EPS_GRID[1:])
    copies = p.index[N:]
    assert torch.equal(copies, p.index[REPEATED])
    assert all((N + i) % 2 != pos % 2 for i, pos in enumerate(REPEATED))  # each copy on the other rank


def _subclasses(cls: type) -> set[type]:
    return {s for c in cls.__subclasses__() for s in {c, *_subclasses(c)}}


def test_every_metric_class_has_a_row() -> None:
    """A new ProbeMetric in robustlens fails here until its row is in :data:`CASES`."""
    import importlib
    import inspect
    import pkgutil

    import robustlens.metrics as package

    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        importlib.import_module(module.name)
    concrete = {c for c in _subclasses(ProbeMetric) if c.__module__.startswith("robustlens.") and not inspect.isabstract(c)}
    assert len(concrete) >= 15  # the walk found the metric modules
    untested = concrete - {type(case.metric()) for case in CASES}
    assert not untested, f"add a row to CASES for {sorted(c.__name__ for c in untested)}"
