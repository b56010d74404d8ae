"""Benchmark: evaluation throughput with 1 and 2 processes (DDP), via the real `robustlens evaluate`.

Evaluates Paper A's published arch-0 ``plain`` MNIST classifier on N test images with a clean
probe and PGD-L∞ (ε 0.1, 20 steps, early stop) once with ``trainer=cpu`` (1 process, 2 threads)
and once with ``trainer=ddp_sim`` (2 processes × 1 thread, gloo), and reads the wall time the
job itself recorded in ``results.json`` (``timing.seconds``: data loading + all probes; process
start-up excluded). Also checks that both runs counted every sample once and agree.

Command (repository root)::

    ROBUSTLENS_SHARED_DIR=../shared python benchmarks/bench_eval_scaling.py [--n 2000] [--gpus 0]

Measured 2026-11-22 on the project's 2-core CPU (one other job running), ``--n 1000``::

    1 process(es):     9.0 s    111.2 img/s  clean 0.9920  pgd 0.4750
    2 process(es):    17.2 s     58.1 img/s  clean 0.9920  pgd 0.4750
    speed-up 2 vs 1: 0.52x; identical accuracies: True

On 2 cores one process already uses both through intra-op threads, so 2 DDP processes only add
the process group and per-probe synchronisation: CPU DDP (``trainer=ddp_sim``) is for testing
multi-process correctness, not for speed. The GPU scaling was not measured (no GPU was lent to
this task).

On a GPU machine pass ``--accelerator gpu --devices 1,2`` to measure the same on 1 and 2 GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(n: int, trainer_args: list[str], out: Path, threads: int) -> dict:
    args = [
        sys.executable, "-m", "robustlens", "evaluate", "classifier=buzhinsky_mnist", "data=mnist",
        f"data.test_subset={n}", "data.eval_batch_size=250", "evaluation.probes.pgd_linf.attack.steps=20",
        "evaluation.probes.pgd_linf.attack.step_size=0.01", "callbacks=none", "extras.print_config=false",
        f"hydra.run.dir={out}", *trainer_args,
    ]
    shared = Path(os.environ.get("ROBUSTLENS_SHARED_DIR", REPO.parent / "shared")).resolve()
    env = {**os.environ, "ROBUSTLENS_SHARED_DIR": str(shared), "ROBUSTLENS_DATA_DIR": str(shared / "data"),
           "OMP_NUM_THREADS": str(threads)}
    subprocess.run(args, check=True, env=env, cwd=REPO, capture_output=True)
    return json.loads((out / "results.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--devices", default="1,2", help="process counts to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for devices in [int(d) for d in args.devices.split(",")]:
            if args.accelerator == "cpu":
                trainer = ["trainer=cpu"] if devices == 1 else ["trainer=ddp_sim", f"trainer.devices={devices}"]
                threads = max(1, 2 // devices)
            else:
                trainer = ["trainer=gpu"] if devices == 1 else ["trainer=ddp", f"trainer.devices={devices}"]
                threads = 2
            payload = run(args.n, trainer, Path(tmp) / f"d{devices}", threads)
            results[devices] = payload
            seconds = payload["timing"]["seconds"]
            print(f"{devices} process(es): {seconds:7.1f} s  {args.n / seconds:7.1f} img/s  "
                  f"clean {payload['metrics']['clean/accuracy']:.4f}  pgd {payload['metrics']['pgd_linf/accuracy']:.4f}")
        base = min(results)
        for devices, payload in results.items():
            if devices != base:
                speedup = results[base]["timing"]["seconds"] / payload["timing"]["seconds"]
                same = all(
                    abs(payload["metrics"][k] - results[base]["metrics"][k]) < 1e-9
                    for k in ("clean/accuracy", "pgd_linf/accuracy")
                )
                print(f"speed-up {devices} vs {base}: {speedup:.2f}x; identical accuracies: {same}")


if __name__ == "__main__":
    main()
