"""Common corruptions (CIFAR-10-C: 15 common + 4 extra types, severities 1-5) as batched torch ops."""

from robustlens.attacks.corruptions.attack import Corruption
from robustlens.attacks.corruptions.functional import (
    ALL_CORRUPTIONS,
    CORRUPTION_FUNCTIONS,
    CORRUPTIONS,
    EXTRA_CORRUPTIONS,
    check_corruption,
    corrupt,
)
from robustlens.utils.seeding import SampleRandom, sample_keys

__all__ = [
    "ALL_CORRUPTIONS",
    "CORRUPTIONS",
    "CORRUPTION_FUNCTIONS",
    "EXTRA_CORRUPTIONS",
    "Corruption",
    "SampleRandom",
    "check_corruption",
    "corrupt",
    "sample_keys",
]
