"""Benchmark: how a search in bf16 (or fp16) differs from fp32 on the same samples, per probe, in one run.

Command (from the repository root)::

    ROBUSTLENS_SHARED_DIR=../shared PYTHONPATH=src python benchmarks/bench_precision.py \\
        [--n 100] [--precision bf16] [--probes pgd_linf apgd_ce fmn_l2] [--threads 1] [--json out.json] [--small]

Models: Paper A's five published MNIST classifiers (architecture 0: ``oneepoch``, ``plain``,
``conventional``, ``robust``, ``both``; first ``--n`` test images, class-stratified) and the
quickstart's SmallCNN, trained here for 3 epochs on the scikit-learn digits (its ``data=digits``
setting; all 360 test digits up to ``--n``). Probes: PGD-L∞ (ε = 0.1, step 0.01, 40 steps, random
start), APGD-CE (ε = 0.1, 100 iterations; pyautoattack under the same autocast) and FMN-L2 (100
steps, minimal norms). Each probe runs once in fp32 and once in ``--precision`` on the same inputs
with the same seeds; the verdicts of both come from robustlens' fp32 verification pass.

Per row: seconds of each run, robust accuracy of each (clean-correct and not broken), their
difference in points, the share of samples with the same verdict, for FMN the mean difference of
the minimal norms over samples found by both, and how many samples counted broken are *not*
adversarial in an independent fp32 forward pass (must be 0). ``--small`` (a smoke test for CI: 20
images, short searches, SmallCNN only) needs no shared files.

Measured 2026-12-05 08:52–09:15 UTC on the 2-core CPU dev machine (contended: load average 9–11
from other jobs; 1 thread; torch 2.14.1; no AMX, so bf16 is not faster here and the seconds are not
the point), ``--n 100`` (APGD-CE rows: ``--n 100 --probes apgd_ce``, after the adapter's fp32 re-run
of refuted samples), robust accuracy fp32 / bf16 in %, share of identical verdicts:

=====================  ========  ========  =========  =======================
classifier             PGD-L∞    APGD-CE   FMN-L2     FMN mean norm Δ
=====================  ========  ========  =========  =======================
quickstart SmallCNN    18/18 100  16/16 100  1/1 100    −0.01 %
Paper A oneepoch       56/55 99   47/48 99   0/0 100    +0.22 %
Paper A plain          56/55 99   42/41 99   1/1 100    +0.64 %
Paper A conventional   77/77 100  73/73 98   3/3 100    −0.23 %
Paper A robust         95/95 100  95/95 100  0/0 100    −0.21 %
Paper A both           94/94 100  94/94 100  2/2 100    −0.27 %
=====================  ========  ========  =========  =======================

No sample counted broken in bf16 was not adversarial in fp32 (every row). Full table, with seconds:
``docs/precision.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from robustlens.attacks import FMN, PGD
from robustlens.attacks.autoattack import APGDCE
from robustlens.attacks.base import Attack

MNIST_MODES = ("oneepoch", "plain", "conventional", "robust", "both")


def shared_dir() -> Path:
    return Path(os.environ.get("ROBUSTLENS_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))


def mnist_models(n: int) -> dict[str, tuple[nn.Module, torch.Tensor, torch.Tensor]]:
    """Paper A's five classifiers with the first ``n`` (class-stratified) MNIST test images."""
    from robustlens.data.mnist import MNISTDataModule
    from robustlens.models.classifiers.buzhinsky import load_buzhinsky_classifier

    data = MNISTDataModule(data_dir=str(shared_dir() / "data"), test_subset=n)
    data.setup("test")
    ds = data.data_test
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    y = ds.targets.clone()
    models_dir = shared_dir() / "models" / "buzhinsky2020-mnist"
    return {f"paperA-{mode}": (load_buzhinsky_classifier(str(models_dir), mode=mode).eval(), x, y) for mode in MNIST_MODES}


def quickstart_model(n: int, epochs: int = 3) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The quickstart's SmallCNN, trained briefly on the scikit-learn digits (28×28)."""
    from robustlens.data.digits import DigitsDataModule
    from robustlens.models.classifiers import SmallCNN

    data = DigitsDataModule(data_dir="unused", batch_size=128, eval_batch_size=500, num_workers=0, seed=0)
    data.setup("fit")
    data.setup("test")
    torch.manual_seed(0)
    model = SmallCNN(num_classes=10, in_channels=1, mean=[0.1307], std=[0.3081], hidden=128, channels=16)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    model.train()
    for _ in range(epochs):
        for xb, yb, *_ in data.train_dataloader():
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    test = [(xb, yb) for xb, yb, *_ in data.test_dataloader()]
    x, y = torch.cat([t[0] for t in test])[:n], torch.cat([t[1] for t in test])[:n]
    return model.eval(), x, y


def probes(small: bool) -> dict[str, Callable[[], Attack]]:
    steps = 5 if small else 1
    return {
        "pgd_linf": lambda: PGD(eps=0.1, step_size=0.01, steps=40 // steps),
        "apgd_ce": lambda: APGDCE(eps=0.1, steps=100 // steps),
        "fmn_l2": lambda: FMN(norm="l2", steps=100 // steps),
    }


def compare(model: nn.Module, x: torch.Tensor, y: torch.Tensor, make: Callable[[], Attack], precision: str) -> dict:
    index = torch.arange(len(x))
    with torch.no_grad():
        correct = model(x).argmax(1).eq(y)
    runs = {}
    for name in ("fp32", precision):
        torch.manual_seed(0)
        start = time.perf_counter()
        result = make()(model, x, y, index=index, precision=name)
        runs[name] = (time.perf_counter() - start, result)
    (t32, r32), (tlow, rlow) = runs["fp32"], runs[precision]
    robust32, robustlow = correct & ~r32.success, correct & ~rlow.success
    with torch.no_grad():
        fp32_preds = model(rlow.x_adv).argmax(1)
    row = {
        "seconds_fp32": round(t32, 2),
        f"seconds_{precision}": round(tlow, 2),
        "robust_acc_fp32": robust32.double().mean().item(),
        f"robust_acc_{precision}": robustlow.double().mean().item(),
        "difference_points": 100 * (robustlow.double().mean() - robust32.double().mean()).item(),
        "same_verdict": (r32.success == rlow.success).double().mean().item(),
        "broken_not_adversarial_in_fp32": int((rlow.success & fp32_preds.eq(y)).sum()),
    }
    if isinstance(r32.norm, torch.Tensor) and make().kind == "minimal_norm":
        both = r32.success & rlow.success & correct
        row["mean_norm_fp32"] = r32.norm[both].mean().item()
        row[f"mean_norm_{precision}"] = rlow.norm[both].mean().item()
        row["mean_norm_difference"] = (rlow.norm[both] - r32.norm[both]).mean().item()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--precision", choices=["bf16", "fp16", "tf32"], default="bf16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--small", action="store_true", help="CI smoke test: SmallCNN, 20 images, short searches")
    ap.add_argument("--probes", nargs="+", choices=["pgd_linf", "apgd_ce", "fmn_l2"], default=None,
                    help="run only these probes (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n = 20 if args.small else args.n
    models = {"quickstart-SmallCNN": quickstart_model(n, epochs=1 if args.small else 3)}
    if not args.small:
        models.update(mnist_models(n))
    rows = []
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, torch {torch.__version__}, threads {args.threads}, "
          f"N = {n}, load {os.getloadavg()}")
    for model_name, (model, x, y) in models.items():
        for probe_name, make in probes(args.small).items():
            if args.probes and probe_name not in args.probes:
                continue
            row = {"model": model_name, "probe": probe_name, "n": len(x), **compare(model, x, y, make, args.precision)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"precision": args.precision, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
