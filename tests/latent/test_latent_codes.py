"""The per-batch code cache of the reconstruction probes: codes are reused only for exactly the same
samples encoded from the same images (test images, or their same-rank training partners)."""

from __future__ import annotations

import torch

from robustlens.evaluation.latent_codes import LatentCodeCache
from robustlens.evaluation.probe import ProbeContext


def test_hit_only_for_the_same_samples_and_split():
    cache, codes = LatentCodeCache(), torch.randn(3, 4)
    index = torch.tensor([5, 6, 7])
    assert cache.get(index, "test") is None
    cache.put(index, "test", codes)
    assert torch.equal(cache.get(index.clone(), "test"), codes)
    assert cache.get(index, "train") is None  # training partners' codes differ from the test images'
    assert cache.get(torch.tensor([5, 6, 8]), "test") is None
    assert cache.get(index[:2], "test") is None


def test_the_cache_keeps_its_own_index():
    cache, index = LatentCodeCache(), torch.tensor([1, 2])
    cache.put(index, "test", torch.zeros(2, 3))
    index[0] = 9  # the caller's tensor changes afterwards: the entry still answers for [1, 2]
    assert cache.get(torch.tensor([1, 2]), "test") is not None


def test_every_probe_context_has_its_own_cache():
    assert ProbeContext().latent_codes is not ProbeContext().latent_codes
