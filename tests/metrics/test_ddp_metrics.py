"""Every class-wise metric gives the same values on 2 DDP processes (gloo, CPU) as on one.

Each rank updates an interleaved half of the samples (as a DistributedSampler would), in
batches of another size than the single-process run, so neither the split nor the batching
may change a value — including the latent-structure cat states, whose per-class cap must
keep the same samples.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from robustlens.metrics.accuracy import Accuracy, ClasswiseAccuracy
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.classwise import (
    ClassFalseScores,
    ConfusionMatrix,
    ErrorFlow,
    FlipRate,
    TargetedSuccessMatrix,
)
from robustlens.metrics.latent_structure import LatentStructure

N, K, D = 60, 5, 4


def make_data() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    labels = torch.randint(0, K, (N,), generator=gen)
    labels[labels == 4] = 3  # class 4 has no samples
    return {
        "index": torch.randperm(N, generator=gen) + 1000,
        "labels": labels,
        "preds": torch.randint(0, K, (N,), generator=gen),
        "clean_preds": torch.randint(0, K, (N,), generator=gen),
        "targeted": torch.rand(N, K, generator=gen) < 0.4,
        "inputs": torch.randn(N, D, generator=gen),
    }


def make_model() -> nn.Module:
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(D, 6), nn.Tanh(), nn.Linear(6, K))
    model.penultimate_layer = "1"
    return model.eval()


def make_metrics() -> dict[str, ProbeMetric]:
    latent = LatentStructure(num_classes=K, max_samples=7)  # the cap binds: ~15 samples per class
    latent.set_model(make_model())
    return {
        "accuracy": Accuracy(K),
        "classwise_accuracy": ClasswiseAccuracy(K),
        "confusion": ConfusionMatrix(K),
        "cfps": ClassFalseScores(K),
        "error_flow": ErrorFlow(K),
        "flip_rate": FlipRate(K),
        "targeted_success": TargetedSuccessMatrix(K),
        "latent_structure": latent,
    }


def run(positions: torch.Tensor, batch_size: int) -> tuple[dict, torch.Tensor]:
    data, metrics = make_data(), make_metrics()
    for chunk in positions.split(batch_size):
        out = ProbeOutput(
            index=data["index"][chunk],
            labels=data["labels"][chunk],
            preds=data["preds"][chunk],
            clean_preds=data["clean_preds"][chunk],
            values={"targeted_success": data["targeted"][chunk]},
            inputs=data["inputs"][chunk],
        )
        for metric in metrics.values():
            metric.update(out)
    results = {name: metric.compute() for name, metric in metrics.items()}
    kept = torch.from_numpy(metrics["latent_structure"].last_features["index"])
    return results, kept


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        results, kept = run(torch.arange(N)[rank::world], batch_size=8)
        torch.save({"results": results, "kept": kept}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].keys() == b[name].keys(), name
        for key, value in a[name].items():
            other = b[name][key]
            assert value.shape == other.shape, f"{name}/{key}"
            message = f"{name}/{key}: {value} vs {other}"
            if value.is_floating_point():
                assert torch.allclose(value, other, atol=1e-6, equal_nan=True), message
            else:
                assert torch.equal(value, other), message


@pytest.mark.ddp
def test_two_processes_equal_one(tmp_path: Path):
    single, kept_single = run(torch.arange(N), batch_size=13)
    # forkserver with preloaded imports: the 2 ranks are fresh processes (as with spawn, no inherited
    # thread pools) but torch/torchmetrics are imported once, not once per rank (~12 s CPU each)
    multiprocessing.set_forkserver_preload(["torch", "torchmetrics", "robustlens.metrics.latent_structure"])
    mp.start_processes(
        _worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True, start_method="forkserver"
    )
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for rank in ranks:
        assert_same(single, rank["results"])
        assert torch.equal(kept_single, rank["kept"])
    # the cap kept the 7 smallest indices of every present class
    assert single["latent_structure"]["latent_count"].tolist() == [7, 7, 7, 7, 0]
    # sanity: the data exercise the metrics (errors, flips and targeted hits exist)
    assert single["cfps"]["num_errors"].item() > 0
    assert 0 < single["flip_rate"]["flip_rate"].item() < 1
