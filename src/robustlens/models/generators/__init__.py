"""Generative models behind one interface (:class:`~robustlens.models.generators.base.Generator`)."""

from robustlens.models.generators.base import Generator, PerClassGenerator
from robustlens.models.generators.buzhinsky_wgan import BuzhinskyWGAN, load_buzhinsky_generators
from robustlens.models.generators.cvae import ConditionalVAE
from robustlens.models.generators.wgan_gp import ConditionalCritic, ConditionalWGANGenerator, gradient_penalty

__all__ = [
    "BuzhinskyWGAN",
    "ConditionalCritic",
    "ConditionalVAE",
    "ConditionalWGANGenerator",
    "Generator",
    "PerClassGenerator",
    "gradient_penalty",
    "load_buzhinsky_generators",
]
