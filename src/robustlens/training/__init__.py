"""Training modes of the ``training=`` config group."""

from robustlens.training.modes import TRADES, GaussianNoise, PGDAdversarial, Standard, TrainingMode

__all__ = ["TRADES", "GaussianNoise", "PGDAdversarial", "Standard", "TrainingMode"]
