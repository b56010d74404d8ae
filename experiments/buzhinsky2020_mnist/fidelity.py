"""Fidelity table: robustlens' faithful Paper A metrics beside the authors' own code, same images.

For each of the five published classifiers and each metric of the Paper A table (clean, noise,
severity scaled-L2 and L∞, LGA, LRA, LAGA, LARA, LAGS, LARS) this runs

* robustlens: the probes of ``experiment=buzhinsky2020_mnist`` (composed from this folder's
  configs, so the settings are the experiment's: every probe faithful), on a batch of the
  class-stratified first N test images;
* the authors' code (``<shared>/reference/buzhinsky2020-code``, imported at run time by
  ``reference.py`` beside this file): their ``Trainer``/``PGDAdversary``/``AdversarialGenerator``
  on the same images (reconstruction: the same training images), the same noise tensor and
  the same generated codes,

and compares them per sample: predictions that must be identical (clean, noise for the same
noise, LGA for the same codes) by the number of differing samples; metrics with random starts
(severity, LAGA/LAGS; reconstruction metrics also through the two gradient inversions) by a
paired z statistic of the per-sample differences (agree: |z| ≤ 2, i.e. the two means are
within two standard errors of their difference). It writes a Markdown table and a JSON file
with every number and the seconds each side took.

    ROBUSTLENS_SHARED_DIR=../shared python experiments/buzhinsky2020_mnist/fidelity.py \\
        --n-search 50 --n-predict 10000 --n-noise 1000 --out outputs/fidelity

(``--n-search 200`` is the issue's N for the searches; it costs about 4× the N = 50 run.)
Timings depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from hydra.utils import instantiate

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import reference as R  # noqa: E402  (this folder's adapters of the authors' code)
from robustlens.evaluation.probe import ProbeContext  # noqa: E402
from robustlens.tasks.evaluate import build_probes  # noqa: E402
from robustlens.utils.seeding import SampleRandom, sample_keys  # noqa: E402

MODES = ("oneepoch", "plain", "conventional", "robust", "both")


def compose(mode: str, n: int, shared: Path, out: Path):
    from tests.hydra_utils import compose_config

    conf = HERE / "conf"
    return compose_config("evaluate", [
        f"hydra.searchpath=[file://{conf}]", "experiment=buzhinsky2020_mnist", f"classifier.mode={mode}",
        f"paths.shared_dir={shared}", f"paths.data_dir={shared / 'data'}", f"data.test_subset={n}",
    ], out)


def test_batch(cfg, n: int | None):
    data = instantiate(cfg.data, test_subset=n)
    data.setup("test")
    ds = data.data_test
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    return x, ds.targets.clone(), ds.positions.clone()


def paired(ours: torch.Tensor, theirs: torch.Tensor) -> dict:
    """Paired comparison of per-sample values: means, the z statistic of the mean difference."""
    ours, theirs = ours.double(), theirs.double()
    d = ours - theirs
    se = float(d.std(unbiased=True) / math.sqrt(len(d))) if len(d) > 1 else 0.0
    mean = float(d.mean())
    z = 0.0 if mean == 0 else (math.inf if se == 0 else mean / se)
    return {"ours": float(ours.mean()), "theirs": float(theirs.mean()), "n": len(d), "z": z,
            "test": "paired z of per-sample differences", "agrees": abs(z) <= 2}


def identical(ours: torch.Tensor, theirs: torch.Tensor, ours_value: float, theirs_value: float) -> dict:
    differ = int((ours != theirs).sum())
    return {"ours": ours_value, "theirs": theirs_value, "n": len(ours), "differ": differ,
            "test": "identical per sample", "agrees": differ == 0}


class Timer:
    def __enter__(self):
        self.t = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t


#: image severities with the same random starts agree per image within this ([-1,1] units)
AGREE_TOL = 1e-4
#: ... for at least this share of the images (float32 rounding amplified by the search moves the rest)
AGREE_SHARE = 0.9
METRICS = ("clean", "noise", "lga", "severity_l2", "severity_linf", "lra", "laga", "lara", "lags", "lars")


def measure(work, mode: str, metric: str, *, n_search: int, n_predict: int, n_noise: int, shared: Path,
            out: Path) -> dict:
    """One row of the table: ``metric`` of classifier ``mode`` by robustlens faithful and by the
    authors' code (``work``: an opened :class:`reference.ReferenceWorkdir`) on the same images,
    compared per sample, with the seconds each side took (``ours_s``, ``theirs_s``)."""
    ref = work.ref
    cfg = compose(mode, n_search, shared, out / "hydra")
    probes = build_probes(cfg, num_classes=10)
    model = instantiate(cfg.classifier).eval()
    trainer = work.classifier(mode)
    ref.seed(cfg.seed)
    if metric == "clean":
        x, y, _ = test_batch(cfg, None if n_predict >= 10000 else n_predict)
        with Timer() as t1, torch.no_grad():
            ours = torch.cat([model(c).argmax(1) for c in x.split(1000)])
        with Timer() as t2:
            theirs = R.predict(trainer, 2 * x - 1)
        row = identical(ours, theirs, float(ours.eq(y).double().mean()), float(theirs.eq(y).double().mean()))
    elif metric == "noise":
        x, y, index = test_batch(cfg, n_noise)
        probe = probes["noise"]
        with Timer() as t1:
            result = probe.run(model, (x, y, index), ProbeContext(seed=cfg.seed))
        draws = probe.attack.draws
        unit = SampleRandom(sample_keys(index, len(y)), probe.attack.seed, "gaussian_noise").randn(
            "noise", (draws, *x.shape[1:]))
        with Timer() as t2:
            preds, acc = R.noise_predictions(trainer, 2 * x - 1, y, unit, sigma=2 * probe.attack.sigma)
        theirs_rate = preds.eq(y[:, None]).double().mean(dim=1)
        ours_rate = result.values["noise_accuracy"].double()
        # compare correct-draw counts (the rates are float32 on robustlens' side)
        row = identical((ours_rate * draws).round(), (theirs_rate * draws).round(), float(ours_rate.mean()),
                        float(acc))
    elif metric in ("severity_l2", "severity_linf"):
        x, y, index = test_batch(cfg, n_search)
        probe = probes[metric]
        a = probe.attack
        assert a.faithful and a.restarts == 15 and a.steps == 50 and a.rel_step == 0.05
        with Timer() as t1:
            result = probe.run(model, (x, y, index), ProbeContext(seed=cfg.seed))
        # the same random starts on both sides: their draws are answered by robustlens' own
        adversary = R.SharedStartsAdversary(R.pgd_adversary(ref, 2 * a.rho, a.norm, kind="severity"),
                                            *a.start_draws(x, index))
        with Timer() as t2:
            theirs = R.image_search(ref, work.ds, trainer, adversary, 2 * x - 1, y, a.norm)
        ours_pm1 = 2 * result.norm.double()
        gap = (ours_pm1 - theirs.norm).abs()
        row = paired(ours_pm1 / 2, theirs.norm / 2)  # [0,1] units
        # the same procedure from the same starts: (nearly) every image equal; the rest part by float32
        # rounding that the search amplifies, in both directions (no bias: |z| <= 2 unless all are equal)
        agree = float(gap.le(AGREE_TOL).double().mean())
        row.update(test="same images and random starts, paired", same_starts=True, agree_1e4=agree,
                   max_gap_pm1=float(gap.max()),
                   agrees=agree >= AGREE_SHARE and (abs(row["z"]) <= 2 or float(gap.max()) <= AGREE_TOL),
                   ours_found=float(result.success.double().mean()),
                   theirs_found=float(theirs.found.double().mean()),
                   ours_out_of_range=float(result.values["out_of_range"].double().mean()),
                   ours_norms=result.norm.double().tolist(), theirs_norms=(theirs.norm / 2).tolist(),
                   clean_wrong=model(x).argmax(1).ne(y).tolist())
    elif metric == "lga":
        x, y, index = test_batch(cfg, n_noise)
        probe = probes["lga"]
        gen = instantiate(cfg.generator).eval()
        ctx = ProbeContext(seed=cfg.seed, generator=gen)
        with Timer() as t1:
            result = probe.run(model, (x, y, index), ctx)
        codes = probe.codes((x, y, index), ctx)
        with Timer() as t2:
            run = R.latent_run(work, [trainer], ref.ml_util.NopAdversary(), labels=y, codes=codes)
        theirs_ok = run.reconstructed[0]
        row = identical(~result.success, theirs_ok, float((~result.success).double().mean()),
                        float(theirs_ok.double().mean()))
    else:  # latent searches and LRA
        x, y, index = test_batch(cfg, n_search)
        probe = probes[metric]
        gen = instantiate(cfg.generator).eval()
        ctx = ProbeContext(seed=cfg.seed, generator=gen, clean_logits=model(x).detach())
        with Timer() as t1:
            result = probe.run(model, (x, y, index), ctx)
            codes = probe.codes((x, y, index), ctx)
        if metric == "lra":
            adversary = ref.ml_util.NopAdversary()
        else:
            assert probe.faithful and probe.steps == 50 and probe.rel_step == 0.05 and probe.restarts == 12
            adversary = ref.ml_util.PGDAdversary(probe.rho, probe.steps, probe.rel_step, True, 0, verbose=0,
                                                 n_repeat=probe.restarts, repeat_mode=probe.mode)
        kwargs = {"codes": codes} if probe.source == "generation" else {
            "images_pm1": 2 * probe.images((x, y, index)) - 1}
        with Timer() as t2:
            run = R.latent_run(work, [trainer], adversary, labels=y, eps=getattr(probe, "eps", 1.0), **kwargs)
        if metric == "lra":
            row = paired((~result.success).double(), run.reconstructed[0].double())
        elif probe.mode == "any":
            row = paired((~result.success).double(), run.modified[0].double())
        else:
            row = paired(result.norm.double(), run.latent_norm[0])
            row.update(ours_found=float(result.success.double().mean()),
                       theirs_found=float((~run.modified[0]).double().mean()),
                       ours_norms=result.norm.double().tolist(), theirs_norms=run.latent_norm[0].tolist(),
                       clean_wrong=(~run.decayed[0]).tolist())
    row.update(ours_s=t1.s, theirs_s=t2.s)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-search", type=int, default=50, help="images/codes for the searches and LRA")
    ap.add_argument("--n-predict", type=int, default=10000, help="test images for clean predictions")
    ap.add_argument("--n-noise", type=int, default=1000, help="test images (codes) for noise and LGA")
    ap.add_argument("--modes", nargs="+", default=list(MODES))
    ap.add_argument("--metrics", nargs="+", default=list(METRICS))
    ap.add_argument("--out", type=Path, default=REPO / "outputs" / "fidelity")
    ap.add_argument("--shared", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    shared = args.shared or R.default_shared_dir()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    results_file = out / "fidelity.json"
    results = json.loads(results_file.read_text()) if results_file.is_file() else {}
    work = R.open_reference(out / "reference_workdir", shared=shared)
    for metric in args.metrics:
        for mode in args.modes:
            if metric in results.get(mode, {}):
                continue
            row = measure(work, mode, metric, n_search=args.n_search, n_predict=args.n_predict,
                          n_noise=args.n_noise, shared=shared, out=out)
            results.setdefault(mode, {})[metric] = row
            results_file.write_text(json.dumps(results, indent=1))
            print(f"{mode:12s} {metric:14s} ours {row['ours']:.4f} theirs {row['theirs']:.4f} "
                  f"{row['test']}: {'agrees' if row['agrees'] else 'DIFFERS'} "
                  f"({row.get('differ', row.get('z'))}); {row['ours_s']:.0f} s / {row['theirs_s']:.0f} s", flush=True)
    write_table(results, out / "fidelity.md")


LABELS = {"clean": "clean accuracy", "noise": "noise accuracy σ=0.4", "severity_l2": "severity L2s",
          "severity_linf": "severity L∞", "lga": "LGA", "lra": "LRA", "laga": "LAGA_0.3", "lara": "LARA_0.3",
          "lags": "LAGS", "lars": "LARS"}


def write_table(results: dict, path: Path) -> None:
    lines = ["| classifier | metric | N | robustlens faithful | authors' code | test | agrees | robustlens s | authors' s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for mode in MODES:
        for metric, label in LABELS.items():
            row = results.get(mode, {}).get(metric)
            if row is None:
                continue
            stat = f"{row['differ']} differ" if "differ" in row else f"z = {row['z']:+.2f}"
            if "agree_1e4" in row:
                stat = f"{row['agree_1e4']:.1%} of images within {AGREE_TOL:g}, {stat}"
            lines.append(f"| {mode} | {label} | {row['n']} | {row['ours']:.4f} | {row['theirs']:.4f} | "
                         f"{row['test']} ({stat}) | {'yes' if row['agrees'] else '**no**'} | "
                         f"{row['ours_s']:.1f} | {row['theirs_s']:.1f} |")
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


if __name__ == "__main__":
    main()
