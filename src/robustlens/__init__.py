"""robustlens: how robust are image classifiers really? Attacks, latent-space (Paper A) and
class-wise (Paper B) robustness metrics on Hydra + Lightning."""

__version__ = "0.1.0"
