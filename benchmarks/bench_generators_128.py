"""Cost of one latent-search step at Paper A's real scale, on random-weight stand-ins.

One "gradient evaluation" of the latent searches = decode codes → classify → backward to the
codes. This measures it (seconds per sample, peak memory per sample) for the full-size
networks of the two 128×128 studies with random weights: PIONEER (nz = 512, 128 px) with the
authors' ColoredNet128, and BigGAN-PyTorch's BigGAN-128 (G_ch = 96) with a torchvision
ResNet-50 at 224 px. The experiments' READMEs project run times from it (a LAGS search spends
up to T·R gradient evaluations per sample).

    PYTHONPATH=src python benchmarks/bench_generators_128.py [--device cuda] [--batch 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

from robustlens.models.classifiers.buzhinsky128 import ColoredNet128
from robustlens.models.generators.biggan import BigGANNet, BigGANPyTorch
from robustlens.models.generators.memory import per_sample_graph_bytes
from robustlens.models.generators.pioneer import (
    PioneerAutoencoders,
    PioneerClassModel,
    PioneerEncoderNet,
    PioneerGeneratorNet,
)


def pioneer_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    models = [PioneerClassModel(PioneerGeneratorNet(512), PioneerEncoderNet(512), 5, 1.0) for _ in range(2)]
    return PioneerAutoencoders(models), ColoredNet128(0)


class Resized(torch.nn.Module):
    def __init__(self, net: torch.nn.Module, size: int):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x):
        return self.net(F.interpolate(x, size=self.size, mode="bilinear", align_corners=False))


def biggan_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    import torchvision

    return BigGANPyTorch(BigGANNet()), Resized(torchvision.models.resnet50(weights=None), 224)


def time_step(gen, clf, batch: int, repeats: int, device: str) -> dict:
    gen, clf = gen.to(device).eval(), clf.to(device).eval()
    for p in list(gen.parameters()) + list(clf.parameters()):
        p.requires_grad_(False)
    y = torch.arange(batch, device=device) % gen.num_classes
    z = torch.randn(batch, gen.latent_dim, device=device, requires_grad=True)

    def step():
        loss = clf(gen.decode(z, y)).logsumexp(dim=1).sum()
        (grad,) = torch.autograd.grad(loss, z)
        return grad

    step()  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / repeats / batch
    out = {"seconds_per_sample_step": seconds, "graph_mb_per_sample": per_sample_graph_bytes(gen, clf, y) / 2**20}
    if device == "cuda":
        out["cuda_peak_mb_per_sample"] = torch.cuda.max_memory_allocated() / 2**20 / batch
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--which", default="pioneer,biggan")
    args = parser.parse_args()
    torch.manual_seed(0)
    results = {"device": args.device, "batch": args.batch, "threads": torch.get_num_threads()}
    for name in args.which.split(","):
        gen, clf = {"pioneer": pioneer_pair, "biggan": biggan_pair}[name]()
        results[name] = time_step(gen, clf, args.batch, args.repeats, args.device)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
