"""Generative models behind one interface (:class:`~robustlens.models.generators.base.Generator`)."""

from robustlens.models.generators.base import Generator, PerClassGenerator
from robustlens.models.generators.buzhinsky_wgan import BuzhinskyWGAN, load_buzhinsky_generators

__all__ = ["BuzhinskyWGAN", "Generator", "PerClassGenerator", "load_buzhinsky_generators"]
