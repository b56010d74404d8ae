"""Attacks, perturbations and corruptions: ``attack(model, x, y[, target], index=...) -> AttackResult``."""

from robustlens.attacks.base import Attack, AttackInputError, AttackResult
from robustlens.attacks.fgsm import FGSM
from robustlens.attacks.fmn import FMN
from robustlens.attacks.natural import Brightness, Contrast, Rotation, Scaling, Translation
from robustlens.attacks.noise import GaussianNoise
from robustlens.attacks.pgd import PGD

__all__ = [
    "FGSM", "FMN", "PGD", "Attack", "AttackInputError", "AttackResult", "Brightness", "Contrast",
    "GaussianNoise", "Rotation", "Scaling", "Translation",
]
