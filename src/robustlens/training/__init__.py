"""Training modes of the ``training=`` config group."""

from robustlens.training.modes import TRADES, NoiseAugmentation, PGDAdversarial, Standard, TrainingMode

__all__ = ["TRADES", "NoiseAugmentation", "PGDAdversarial", "Standard", "TrainingMode"]
