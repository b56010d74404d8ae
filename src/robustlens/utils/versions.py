"""Library versions recorded with every result: an attack's numbers change between library releases,
so a result is only comparable with the versions that produced it."""

from __future__ import annotations

import platform
from importlib import metadata

PACKAGES = (
    "robustlens", "torch", "torchvision", "lightning", "hydra-core", "omegaconf", "torchmetrics",
    "wandb", "numpy", "pyautoattack",
)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
