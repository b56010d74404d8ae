"""LLNA perturbs a code as Paper A does: ``(l + εν)/√(1+ε²)`` (the decay keeps a N(0, I) code's
distribution), with ν ~ N(0, I) drawn per sample index.

Why its own test: the LLNA tests compared ε = 0 with LRA and checked that noise changes the rate; an
LLNA without the decay factor passed them all, although its noisy codes are √(1+ε²) times too long."""

from __future__ import annotations

import math

import torch

from robustlens.evaluation.latent_probes import LatentNoiseProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.utils.seeding import per_sample_randn, stream_id

from .helpers import LinearClassifier, LinearGenerator


def test_llna_decodes_the_decayed_noisy_code() -> None:
    gen = LinearGenerator(dtype=torch.float32, scale=0.3)
    clf = LinearClassifier(gen.side**2, 3, seed=5, dtype=torch.float32)
    y, index = torch.arange(6) % 3, torch.arange(200, 206)
    batch = (torch.zeros(6, 1, gen.side, gen.side), y, index)
    context = ProbeContext(seed=4, generator=gen)
    eps, draws = 1.5, 3
    probe = LatentNoiseProbe(eps=eps, draws=draws, source="generation", max_images=6)
    out = probe.run(clf, batch, context)
    codes = probe.codes(batch, context)
    nu = per_sample_randn(index, (draws, gen.latent_dim), 4, stream_id("latent/noise"))[:, 0]
    expected = (codes + eps * nu) / math.sqrt(1 + eps**2)
    decoded_code = gen.encode(out.images["noisy"].to(torch.float32), y)  # exact inverse of the affine decoder
    torch.testing.assert_close(decoded_code, expected, atol=1e-4, rtol=1e-4)
