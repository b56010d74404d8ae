"""Summary statistics of a per-sample quantity, under the one key convention.

``<name>`` is the mean (the headline value), then ``<name>_std`` (population, ddof = 0),
``<name>_min``, ``<name>_q25``, ``<name>_median``, ``<name>_q75``, ``<name>_max``
(quantiles linearly interpolated): NumPy's defaults, which Paper A's scripts used.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SUMMARY_SUFFIXES: tuple[str, ...] = ("_std", "_min", "_q25", "_median", "_q75", "_max")


def summary_keys(name: str) -> tuple[str, ...]:
    """The keys :func:`summary` returns for ``name``."""
    return (name, *(name + suffix for suffix in SUMMARY_SUFFIXES))


def summary(name: str, values: Tensor, drop_nan: bool = False) -> dict[str, Tensor]:
    """Mean, std, min, quartiles and max of ``values`` in float64 (all NaN without values).

    ``drop_nan`` ignores NaN entries (a perturbation without a norm) instead of letting them
    make every statistic NaN.
    """
    v = values.reshape(-1).double()
    if drop_nan:
        v = v[~torch.isnan(v)]
    if v.numel() == 0:
        return {key: torch.tensor(math.nan, dtype=torch.float64) for key in summary_keys(name)}
    q = torch.quantile(v, torch.tensor([0.25, 0.5, 0.75], dtype=v.dtype, device=v.device))
    stats = (v.mean(), v.std(correction=0), v.min(), q[0], q[1], q[2], v.max())
    return dict(zip(summary_keys(name), stats, strict=True))
