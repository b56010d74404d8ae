"""Latent probes under a memory budget: chunked results equal unchunked ones, and a search
over N = 600 samples at 128×128 stays within the budget (peak RSS of a child process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robustlens.evaluation.latent_probes import LatentAccuracyProbe, LatentAdversarialProbe, LatentNoiseProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.models.generators.memory import chunk_size, graph_bytes, per_sample_graph_bytes
from tests.conftest import missing
from tests.generators._memory_run import TenLayerGenerator, tiny_classifier

REPO = Path(__file__).resolve().parents[2]


def test_graph_bytes_counts_saved_activations_not_parameters():
    lin = torch.nn.Linear(10, 10)
    x = torch.zeros(3, 10, requires_grad=True)
    # relu(lin(x)) saves x (3·10 floats, for the weight gradient) and relu's output (3·10);
    # the weight itself is a parameter and is excluded; the 3·10 output is counted
    measured = graph_bytes(lambda: torch.relu(lin(x)), exclude=list(lin.parameters()))
    assert measured == 3 * (3 * 10 * 4)


def test_chunk_size_from_budget():
    assert chunk_size(None, 10, total=7) == 7
    # 1 MB graph × 2 copies (restarts) × 3 (backward) = 6 MB per sample: 30 MB hold 5
    assert chunk_size(30.0, 2**20, copies=2.0, total=100) == 5
    assert chunk_size(30.0, 2**20, copies=2.0, total=4) == 4
    assert chunk_size(0.001, 2**20, total=100) == 1  # below one sample: one at a time


@pytest.fixture(scope="module")
def small_setup():
    torch.manual_seed(0)
    # float64: batched float32 convolutions round differently by batch size, and a search
    # amplifies the last bit (see docs/latent-search.md); in float64 the chunking is exact
    gen = TenLayerGenerator(latent_dim=8, ch=2).double().eval()
    clf = tiny_classifier().double().eval()
    n = 10
    with torch.no_grad():
        x = gen.decode(torch.randn(n, 8, dtype=torch.float64), torch.arange(n) % 2)
    return gen, clf, (x, torch.arange(n) % 2, torch.arange(n))


@pytest.mark.parametrize("make", [
    lambda: LatentAccuracyProbe(source="generation"),
    lambda: LatentAccuracyProbe(source="reconstruction"),
    lambda: LatentNoiseProbe(eps=0.5, draws=3, source="generation"),
    lambda: LatentAdversarialProbe(source="generation", mode="any", rho=0.5, steps=3, restarts=2),
])
def test_chunked_results_equal_one_batch(small_setup, make):
    gen, clf, batch = small_setup
    gen.inversion_steps, gen.inversion_restarts = 3, 2  # a short inversion for the reconstruction probe
    whole, chunked = make(), make()
    per_sample = per_sample_graph_bytes(gen, clf, batch[1])
    chunked.set_memory_budget(per_sample * 3 * 3 * 3 / 2**20)  # ~3 samples per chunk
    a = whole.run(clf, batch, ProbeContext(seed=0, generator=gen))
    b = chunked.run(clf, batch, ProbeContext(seed=0, generator=gen))
    assert chunked.chunk_size_for(gen, clf, *batch[:2], chunked.graphs_per_sample()) < len(batch[1])
    torch.testing.assert_close(b.preds, a.preds)
    torch.testing.assert_close(b.index, a.index)
    for key in a.values:
        torch.testing.assert_close(b.values[key], a.values[key], rtol=1e-5, atol=1e-6)
    if a.norm is not None:
        torch.testing.assert_close(b.norm, a.norm, rtol=1e-5, atol=1e-6)
    assert set(b.images) == set(a.images)


def test_bad_budget_is_refused():
    with pytest.raises(ValueError, match="memory_budget_mb"):
        LatentAccuracyProbe().set_memory_budget(-1)


@pytest.mark.slow
def test_search_over_600_samples_at_128px_stays_within_budget():
    if not Path("/proc/self/clear_refs").exists():
        missing("needs Linux /proc/self/clear_refs (the peak-RSS reset)")
    budget = 48.0
    # glibc's dynamic mmap threshold keeps freed large blocks in the heap, so RSS would count
    # memory the process no longer uses; a fixed threshold makes RSS follow the live tensors
    env = {
        **os.environ, "PYTHONPATH": f"{REPO / 'src'}:{REPO}", "OMP_NUM_THREADS": "1",
        "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072",
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.generators._memory_run", "600", str(budget)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["n_out"] == 600
    # without chunks the 600 graphs would need ~600 × per-sample × 3 (≈ 3 GB here): the budget binds
    assert result["per_sample_mb"] * 600 > 10 * budget
    assert 1 <= result["chunk"] < 600
    assert result["growth_mb"] <= budget, result
