"""PGD-L∞ of robustlens vs torchattacks 3.5.1: same model, same data, same device, one run.

Setting: MNIST test set (read from the .gz files under ``$ROBUSTLENS_SHARED_DIR/data``),
Paper A's architecture-0 ``plain`` classifier (weights from
``$ROBUSTLENS_SHARED_DIR/models/buzhinsky2020-mnist``; the net is defined here, with the
InstanceNorm equivalence its README gives), PGD-L∞ ε=0.3, step 0.01, 40 steps, random start,
CE loss, batch 250, CPU.

Each tool runs in its own child process (so peak RSS is its own), on the same batches; the
parent prints one table: throughput (images/s), the ratio robustlens/torchattacks, robust
accuracy of each, and peak memory (``ru_maxrss`` of the child; ``+attack`` = growth over
the RSS after loading model and data; tracemalloc peak of Python-side allocations).
robustlens runs in evaluation mode (``early_stop=True``: samples already adversarial leave
the batch); ``--fixed`` adds robustlens' Madry-style fixed-step mode (``early_stop=False``),
which does exactly torchattacks' work.

Command (default run ≈ 1–3 min on 2 loaded CPU cores)::

    ROBUSTLENS_SHARED_DIR=../shared PYTHONPATH=src \\
        python benchmarks/bench_pgd_vs_torchattacks.py --n 1000 --fixed

Measured 2026-11-22 on the 2-core CPU dev machine (torch 2.14.1, 1 thread per process,
load average ≈ 6 from other jobs, so absolute numbers are noisy; clean accuracy 0.993)::

    --n 1000 --fixed  (ε=0.3)
    tool                   img/s  ratio robust acc peak RSS MiB +attack MiB
    torchattacks             9.6   1.00     0.0000        765.2       139.3
    robustlens              46.2   4.81     0.0000        811.1       188.8
    robustlens_fixed        21.5   2.23     0.0000        692.0        68.5

    --n 500 --eps 0.1
    torchattacks            19.4   1.00     0.4100        755.7       129.8
    robustlens              26.7   1.38     0.4200        793.3       167.5

Measured again in a second run, same day, machine shared with one other job (2 cores)::

    --n 1000  (ε=0.3, the issue's setting)
    torchattacks            32.9   1.00     0.0000       1033.0        84.9
    robustlens             145.1   4.41     0.0000       1168.9       221.4
    --n 1000 --eps 0.1 --no-random-start  (identical trajectories until a point turns adversarial)
    torchattacks            32.9   1.00     0.4160       1024.8        83.7
    robustlens              51.2   1.55     0.4150       1253.0       305.0

With identical starts robustlens' robust accuracy is 0.10 pp *lower* (stronger): early stopping
keeps an adversarial point that torchattacks' later steps lose again. robustlens' peak memory is
higher (+221/+305 MiB over the loaded model vs +85 MiB): it keeps the per-sample facts and the
final verification logits of every batch.

At ε=0.3 this model has no robust points, so early stopping ends most samples after a few
steps. At ε=0.1 the two robust accuracies differ by 1.0 pp (5 of 500 images): the tools draw
different random starts, so single-run PGD differs per image; run a larger ``--n`` to see the
difference shrink. robustlens_fixed does the same work as torchattacks; its 2.2× came from
load noise, not from less work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch
from torch import nn


def shared_dir() -> Path:
    return Path(os.environ.get("ROBUSTLENS_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


def load_mnist_test(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` MNIST test images in [0,1] and their labels (robustlens' IDX reader, .gz as shipped)."""
    from robustlens.data.idx import read_idx

    raw = shared_dir() / "data" / "MNIST" / "raw"
    images = read_idx(raw / "t10k-images-idx3-ubyte.gz")[:n].reshape(-1, 1, 28, 28)
    labels = read_idx(raw / "t10k-labels-idx1-ubyte.gz")[:n]
    return torch.from_numpy(images.astype(np.float32) / 255.0), torch.from_numpy(labels.astype(np.int64))


def load_model() -> nn.Module:
    """Paper A's published arch-0 ``plain`` classifier through robustlens' loader ([0,1] inputs)."""
    from robustlens.models.classifiers import load_buzhinsky_classifier

    return load_buzhinsky_classifier(str(shared_dir() / "models" / "buzhinsky2020-mnist"), "plain", 0).eval()


def run_child(tool: str, args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_model()
    x, y = load_mnist_test(args.n)
    clean = torch.cat([model(c).argmax(1) for c in x.split(args.batch_size)]).eq(y).float().mean().item()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if tool == "torchattacks":
        import torchattacks

        atk = torchattacks.PGD(model, eps=args.eps, alpha=args.step, steps=args.steps,
                               random_start=not args.no_random_start)
        run = lambda xb, yb, ib: atk(xb, yb)  # noqa: E731
    else:
        from robustlens.attacks.pgd import PGD

        pgd = PGD(eps=args.eps, step_size=args.step, steps=args.steps, norm="linf",
                  random_start=not args.no_random_start,
                  early_stop=(tool == "robustlens"))
        run = lambda xb, yb, ib: pgd(model, xb, yb, index=ib).x_adv  # noqa: E731
    tracemalloc.start()
    correct = 0
    start = time.perf_counter()
    for xb, yb, ib in zip(x.split(args.batch_size), y.split(args.batch_size),
                          torch.arange(args.n).split(args.batch_size), strict=True):
        x_adv = run(xb, yb, ib)
        assert (x_adv - xb).abs().max() <= args.eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
        with torch.no_grad():
            correct += model(x_adv).argmax(1).eq(yb).sum().item()
    elapsed = time.perf_counter() - start
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"tool": tool, "n": args.n, "seconds": elapsed, "images_per_s": args.n / elapsed,
            "clean_accuracy": clean, "robust_accuracy": correct / args.n,
            "peak_rss_mib": rss_peak / 1024, "attack_rss_growth_mib": (rss_peak - rss_before) / 1024,
            "tracemalloc_peak_mib": py_peak / 2**20}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=1000, help="test images (10000 = the whole test set)")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--eps", type=float, default=0.3)
    p.add_argument("--step", type=float, default=0.01)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fixed", action="store_true", help="also time robustlens with early_stop=False")
    p.add_argument("--no-random-start", action="store_true",
                   help="start both tools at x: identical trajectories, so robust accuracies differ only "
                        "where torchattacks loses an adversarial point it had found")
    p.add_argument("--child", choices=["robustlens", "robustlens_fixed", "torchattacks"],
                   help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_child(args.child, args)))
        return
    tools = ["torchattacks", "robustlens"] + (["robustlens_fixed"] if args.fixed else [])
    forwarded = [a for a in sys.argv[1:] if a != "--fixed"]
    results = {}
    for tool in tools:
        out = subprocess.run([sys.executable, __file__, *forwarded, "--child", tool],
                             check=True, capture_output=True, text=True).stdout
        results[tool] = json.loads(out.strip().splitlines()[-1])
    ta = results["torchattacks"]
    print(f"PGD-L∞ eps={args.eps} step={args.step} steps={args.steps} n={args.n} "
          f"batch={args.batch_size} threads={args.threads} torch={torch.__version__}")
    print(f"clean accuracy {ta['clean_accuracy']:.4f}")
    print(f"{'tool':18s} {'img/s':>9s} {'ratio':>6s} {'robust acc':>10s} {'peak RSS MiB':>12s} "
          f"{'+attack MiB':>11s} {'py peak MiB':>11s}")
    for tool, r in results.items():
        print(f"{tool:18s} {r['images_per_s']:9.1f} {r['images_per_s'] / ta['images_per_s']:6.2f} "
              f"{r['robust_accuracy']:10.4f} {r['peak_rss_mib']:12.1f} {r['attack_rss_growth_mib']:11.1f} "
              f"{r['tracemalloc_peak_mib']:11.2f}")
    diff_pp = 100 * abs(results["robustlens"]["robust_accuracy"] - ta["robust_accuracy"])
    print(f"robust accuracy difference robustlens vs torchattacks: {diff_pp:.2f} pp")


if __name__ == "__main__":
    main()
