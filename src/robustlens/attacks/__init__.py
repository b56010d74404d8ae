"""Attacks, perturbations and corruptions: ``attack(model, x, y[, target], index=...) -> AttackResult``.

The kinds (bounded, minimal-norm, perturbation) are types in :mod:`robustlens.attacks.base`;
``docs/attacks.md`` describes every attack and how to add one.
"""

from robustlens.attacks.base import (
    Attack,
    AttackInputError,
    AttackResult,
    BoundedAttack,
    MinimalNormAttack,
    Perturbation,
)
from robustlens.attacks.fgsm import FGSM
from robustlens.attacks.fmn import FMN
from robustlens.attacks.natural import Brightness, Contrast, Rotation, Scaling, Translation
from robustlens.attacks.noise import GaussianNoise
from robustlens.attacks.pgd import PGD

__all__ = [
    "FGSM", "FMN", "PGD", "Attack", "AttackInputError", "AttackResult", "BoundedAttack", "Brightness",
    "Contrast", "GaussianNoise", "MinimalNormAttack", "Perturbation", "Rotation", "Scaling", "Translation",
]
