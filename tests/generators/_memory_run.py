"""Child process of the memory-budget test: one latent probe over N samples at 128×128.

Prints one JSON line: the resident-memory growth during the probe (Linux peak RSS, reset just
before it), the measured per-sample graph size and the chunk size the probe chose.
Run: ``python -m tests.generators._memory_run <N> <budget_mb|none>``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

from robustlens.evaluation.latent_probes import LatentAdversarialProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.models.generators.base import Generator


class TenLayerGenerator(Generator):
    """A 10-convolution class-conditional decoder 4 → 128 px at 4 channels: a tiny stand-in
    with the depth and image size of the real generators (memory per sample ∝ 128²)."""

    def __init__(self, latent_dim: int = 16, num_classes: int = 2, ch: int = 4):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.embed = nn.Embedding(num_classes, latent_dim)
        self.fc = nn.Linear(latent_dim, ch * 4 * 4)
        layers: list[nn.Module] = []
        for _ in range(5):  # 4 → 128 px
            layers += [nn.Upsample(scale_factor=2), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)
        self.to_rgb = nn.Conv2d(ch, 3, 1)
        self.ch = ch

    def decode(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.fc(z + self.embed(y)).view(-1, self.ch, 4, 4)
        return torch.sigmoid(self.to_rgb(self.body(h)))


def tiny_classifier() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2),
    )


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(n: int, budget: float | None) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    gen, clf = TenLayerGenerator().eval(), tiny_classifier().eval()
    probe = LatentAdversarialProbe(source="generation", mode="any", rho=0.3, steps=2, restarts=1, max_images=4)
    probe.set_memory_budget(budget)
    x = torch.zeros(n, 3, 128, 128)  # generation probes do not read the images; a real batch holds them
    y = torch.arange(n) % 2
    index = torch.arange(n)
    context = ProbeContext(seed=0, generator=gen)
    # warm-up on 2 samples: allocator and kernels ready, per-sample graph measured
    probe.run(clf, (x[:2], y[:2], index[:2]), context)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS mark (Linux)
    before = _status("VmRSS")
    out = probe.run(clf, (x, y, index), context)
    growth = _status("VmHWM") - before
    per_sample = next(iter(probe._graph_bytes.values()))
    size = probe.chunk_size_for(gen, clf, x, y, 1.0)
    print(json.dumps({"growth_mb": growth / 2**20, "per_sample_mb": per_sample / 2**20, "chunk": size,
                      "n_out": int(out.preds.numel())}))


if __name__ == "__main__":
    main(int(sys.argv[1]), None if sys.argv[2] == "none" else float(sys.argv[2]))
