"""Old metric names → the current key convention, so results.json files written by earlier
versions stay readable by ``robustlens report``.

The convention (``docs/metrics.md``): a metric's headline value is ``<name>`` (a mean is the
plain name), its statistics ``<name>_std``/``_min``/``_q25``/``_median``/``_q75``/``_max``, its
per-class vector ``classwise_<name>``; training logs the evaluation's names. Until that
convention, results used these names (each rule below is one such change):

=====================================  =====================================  ===========================
old key                                current key                            why
=====================================  =====================================  ===========================
``<probe>/<x>_mean``                   ``<probe>/<x>``                        a mean is the plain name
                                                                              (NormStatistics, e.g.
                                                                              ``severity_mean``;
                                                                              ``silhouette_mean``)
``<probe>/silhouette/<c>``             ``<probe>/classwise_silhouette/<c>``   per-class vectors are
                                                                              ``classwise_<name>``
``train/acc``, ``val/acc``,            ``train/accuracy``, ``val/accuracy``,  training uses the
``test/acc``                           ``test/accuracy``                      evaluation's names
``val/acc/<c>``                        ``val/classwise_accuracy/<c>``
=====================================  =====================================  ===========================

Every rule leaves current keys unchanged (the convention has no ``_mean`` suffix and no
per-class ``silhouette``), so the mapping can be applied to any file, old or new.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: (pattern on the whole key, replacement), applied in order; the first match wins
RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(train|val|test)/acc$"), r"\1/accuracy"),
    (re.compile(r"^(train|val|test)/acc/(-?\d+)$"), r"\1/classwise_accuracy/\2"),
    (re.compile(r"^([^/]+)/silhouette/(-?\d+)$"), r"\1/classwise_silhouette/\2"),
    (re.compile(r"^([^/]+)/(\w+)_mean$"), r"\1/\2"),
)


def current_key(key: str) -> str:
    """The current name of a stored metric key (unchanged if it is current already)."""
    for pattern, replacement in RULES:
        new, count = pattern.subn(replacement, key)
        if count:
            return new
    return key


def current_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A results.json ``metrics`` mapping under current names.

    If a file somehow holds both an old key and its current name, the current one is kept
    (it was written by the newer code) and the old one is dropped.
    """
    out: dict[str, Any] = {}
    for key, value in metrics.items():
        new = current_key(key)
        if new == key or new not in metrics:
            out[new] = value
    return out
