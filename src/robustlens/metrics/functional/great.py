"""GREAT Score's maths (Li, Chen & Ho, NeurIPS 2024, arXiv 2304.09875; the authors' code is the
``IBM/GREAT-Score`` repository, ``src/main.py``): the local score of a generated sample and the
Hoeffding bound on the sample mean. Definitions: ``docs/metrics.md``, "GREAT Score".
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

#: the constant of the local score, √(π/2): the inverse of √(2/π), the Lipschitz constant of a
#: Gaussian-smoothed function with values in [0, 1] (the paper's certificate rests on it)
SQRT_HALF_PI = math.sqrt(math.pi / 2)


def great_local_score(logits: Tensor, labels: Tensor, temperature: float = 1.0) -> Tensor:
    """``g(x) = √(π/2) · max(f_y(x) − max_{j≠y} f_j(x), 0)`` per sample, in float64.

    ``f = softmax(logits / temperature)`` (``temperature`` = 1: the paper's uncalibrated score;
    the authors calibrate CIFAR-10 models by a temperature) and ``y`` the class the generator
    was asked for. A sample the classifier gets wrong scores 0, as in the authors' code.
    """
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    probs = torch.softmax(logits.double() / temperature, dim=1)
    own = probs.gather(1, labels.long()[:, None]).squeeze(1)
    others = probs.scatter(1, labels.long()[:, None], -math.inf).amax(dim=1)
    return SQRT_HALF_PI * (own - others).clamp_min(0)


def hoeffding_half_width(n: int, level: float) -> float:
    """``ε`` with ``P(|ĝ_n − E g| ≥ ε) ≤ 1 − level`` for the mean of ``n`` i.i.d. local scores.

    Hoeffding's inequality for variables in ``[0, √(π/2)]``: ``P(|ĝ_n − E g| ≥ ε) ≤
    2 exp(−2nε² / (π/2))``, so ``ε = √(π/2) · √(ln(2/δ) / (2n))`` with ``δ = 1 − level``
    (the paper's finite-sample guarantee). NaN without samples.
    """
    if n <= 0:
        return math.nan
    delta = 1 - level
    return SQRT_HALF_PI * math.sqrt(math.log(2 / delta) / (2 * n))
