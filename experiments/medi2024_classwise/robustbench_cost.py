"""What the RobustBench experiment costs per model: random-weight networks of the zoo's own
architectures timed on this machine at a small batch, and projected to the whole run.

    PYTHONPATH=src python experiments/medi2024_classwise/robustbench_cost.py [--batch 4] [--threads 1]

Per architecture it prints the forward FLOPs per image (torch's FlopCounterMode), the measured
seconds per image of one forward and of one forward+backward (one attack step), and the
projected seconds for the experiment on 10,000 images: per image 120 forward+backward passes
(PGD-L∞ at three budgets × 10 steps, targeted PGD towards 9 classes × 10 steps) and about 30
forward passes (clean, the attacks' final predictions, 15 corruptions, latent structure). The
GPU column assumes 40 TFLOP/s sustained (a forward+backward is 3× the forward's FLOPs): an
estimate, not a measurement.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from robustlens.models.classifiers.sources.robustbench_source import zoo_entries

MODELS = ["Standard", "Carmon2019Unlabeled", "Zhang2019Theoretically", "Wong2020Fast",
          "Rebuffi2021Fixing_R18_ddpm", "Engstrom2019Robustness", "Rebuffi2021Fixing_70_16_cutmix_extra"]
FORWARD_BACKWARD, FORWARD, IMAGES, GPU_FLOPS = 120, 30, 10_000, 40e12


def measure(name: str, batch: int) -> dict[str, float]:
    network = zoo_entries("cifar10", "Linf")[name]["model"]().eval()
    x = torch.rand(batch, 3, 32, 32)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        network(x[:1])
    flops = counter.get_total_flops()
    with torch.no_grad():
        network(x)  # warm-up
        start = time.perf_counter()
        network(x)
        forward = (time.perf_counter() - start) / batch
    x.requires_grad_(True)
    start = time.perf_counter()
    network(x).sum().backward()
    step = (time.perf_counter() - start) / batch
    params = sum(p.numel() for p in network.parameters())
    return {"params_M": params / 1e6, "gflops": flops / 1e9, "forward_s": forward, "step_s": step,
            "cpu_hours": IMAGES * (FORWARD_BACKWARD * step + FORWARD * forward) / 3600,
            "gpu_minutes": IMAGES * flops * (3 * FORWARD_BACKWARD + FORWARD) / GPU_FLOPS / 60}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", nargs="*", default=MODELS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| model | params (M) | GFLOPs/img fwd | CPU s/img fwd | CPU s/img step | CPU h (10k imgs) | GPU min (10k, est.) |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        r = measure(name, args.batch)
        print(f"| {name} | {r['params_M']:.1f} | {r['gflops']:.2f} | {r['forward_s']:.3f} | {r['step_s']:.3f} | "
              f"{r['cpu_hours']:.0f} | {r['gpu_minutes']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
