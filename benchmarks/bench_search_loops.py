"""Benchmark: seconds of the search loops (PGD, FMN, LAGS faithful and default) on Paper A's ``plain`` classifier.

Why: issue 22 made the loops sync-free (fixed-shape updates, one host read per ``check_every`` steps,
labels and NaN checks read once per batch); on the CPU nothing may get slower. Run it once per
checkout, alternating, under the same conditions, and compare the JSON lines (results must be equal,
seconds no larger)::

    for tree in ../main . ../main .; do
        ROBUSTLENS_SHARED_DIR=../shared PYTHONPATH=$tree/src OMP_NUM_THREADS=1 python benchmarks/bench_search_loops.py
    done

Workloads: PGD-L∞ (ε 0.1, step 0.01, 40 steps) with early stop and fixed-step on the first 200
(stratified) MNIST test images; FMN-L2 (100 steps) on the same; LAGS faithful (A.4's 12×50 'min'
search) and default (the minimal-norm search) on 60 generated codes with the ten published WGANs.

Measured 2026-12-05 09:00 UTC on the 2-core CPU dev machine, contended (load average 10–11 from
other jobs), 1 thread, two alternating rounds, main (f92102f) vs issue22-precision, seconds:

| workload | main, round 1 / 2 | this branch, round 1 / 2 |
|---|---|---|
| PGD early stop, 200 images | 17.9 / 20.1 | 17.0 / 18.4 |
| PGD fixed steps, 200 images | 29.5 / 39.8 | 39.7 / 25.6 |
| FMN-L2 100 steps, 200 images | 101.0 / 86.9 | 83.3 / 65.1 |
| LAGS faithful, 60 codes | 178.5 / 190.2 | 141.1 / 110.6 |
| LAGS default, 60 codes | 34.4 / 46.8 | 24.1 / 27.1 |

Results identical in both: PGD robust accuracy 0.47, LAGS mean ‖Δl‖ₛ 0.33813 (faithful) and 0.26279
(default). The fixed-step PGD row is noise (29.5 vs 39.8 s for the same code); the branch's first
fixed-step round predates its last change to that loop (no masked update in fixed-step mode).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import torch


def main() -> None:
    from robustlens.attacks import FMN, PGD
    from robustlens.data.mnist import MNISTDataModule
    from robustlens.evaluation.latent_probes import LatentAdversarialProbe
    from robustlens.evaluation.probe import ProbeContext
    from robustlens.models.classifiers.buzhinsky import load_buzhinsky_classifier
    from robustlens.models.generators.buzhinsky_wgan import load_buzhinsky_generators

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    shared = Path(os.environ.get("ROBUSTLENS_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
    models = str(shared / "models" / "buzhinsky2020-mnist")
    clf = load_buzhinsky_classifier(models, mode="plain").eval()
    gen = load_buzhinsky_generators(models).eval()
    data = MNISTDataModule(data_dir=str(shared / "data"), test_subset=200)
    data.setup("test")
    ds = data.data_test
    x, y = torch.stack([ds[i][0] for i in range(len(ds))]), ds.targets.clone()
    index = torch.arange(len(y))
    out: dict[str, float] = {}

    def timed(name: str, run: Callable[[], object]) -> object:
        start = time.perf_counter()
        result = run()
        out[name] = round(time.perf_counter() - start, 2)
        return result

    pgd = timed("pgd_early_stop_eps0.1_n200", lambda: PGD(eps=0.1, step_size=0.01, steps=40)(clf, x, y, index=index))
    out["pgd_robust"] = float((~pgd.success).double().mean())
    timed("pgd_fixed_n200", lambda: PGD(eps=0.1, step_size=0.01, steps=40, early_stop=False)(clf, x, y, index=index))
    timed("fmn_l2_n200", lambda: FMN(norm="l2", steps=100)(clf, x, y))
    n = 60
    batch = (torch.zeros(n, 1, 28, 28), torch.arange(n) % 10, torch.arange(n))
    for name, options in (("lags_faithful_n60", {"faithful": True}), ("lags_default_n60", {})):
        probe = LatentAdversarialProbe("generation", "min", max_images=0, **options)
        result = timed(name, lambda probe=probe: probe.run(clf, batch, ProbeContext(seed=0, generator=gen)))
        out[f"{name}_mean_norm"] = round(float(result.norm.mean()), 5)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
