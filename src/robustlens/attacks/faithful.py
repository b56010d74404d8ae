"""Which robustlens objects can reproduce an authors' own procedure (``faithful`` mode).

Why a registry: ``faithful=true`` promises the numbers of a published implementation, so it
must exist only where robustlens has been written (and is tested) against one. Everywhere
else the key is refused by the config validator with the list below, instead of being
accepted and meaning nothing. The test ``tests/attacks/test_faithful.py`` checks that every
class with a faithful switch is listed here and every listed class has one.

Paper A's procedures are those of the authors' code (Buzhinsky, Nerinovsky & Tripakis,
``latentspace/``); see ``docs/attacks.md`` (image space) and ``docs/latent-search.md``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FaithfulProcedure:
    """One object with an authors' mode.

    Attributes:
        target: the ``_target_`` of the class.
        switch: the constructor argument and value that select the authors' procedure.
        procedure: the authors' function it reproduces.
        configs: the config files that build it (``conf/<group>/<name>.yaml``).
    """

    target: str
    switch: str
    procedure: str
    configs: tuple[str, ...]


FAITHFUL_PROCEDURES: tuple[FaithfulProcedure, ...] = (
    FaithfulProcedure(
        "robustlens.attacks.severity.PaperASeverity", "faithful=true",
        "Trainer.measure_adversarial_severity with PGDAdversary 'min'",
        ("attack/severity_l2", "attack/severity_linf"),
    ),
    FaithfulProcedure(
        "robustlens.attacks.severity.PaperABoundedAttack", "faithful=true",
        "Trainer.measure_robustness with PGDAdversary (one run)",
        ("attack/paper_a_bounded_l2", "attack/paper_a_bounded_linf"),
    ),
    FaithfulProcedure(
        "robustlens.attacks.noise.GaussianNoise", "clip=false",
        "Trainer.accuracy with noise_sigma (images + randn·σ, unclipped)",
        ("attack/gaussian_noise",),
    ),
    FaithfulProcedure(
        "robustlens.evaluation.latent_probes.LatentAdversarialProbe", "faithful=true",
        "the latent PGDAdversary searches of adversarial_generation.py",
        ("probe/laga", "probe/lara", "probe/lags", "probe/lars"),
    ),
)


def faithful_hint() -> str:
    """The sentence the validator adds when ``faithful`` is set where it does not exist."""
    listed = "; ".join(f"{', '.join(p.configs)} ({p.switch})" for p in FAITHFUL_PROCEDURES)
    return (
        "`faithful` exists only where robustlens reproduces an authors' procedure: " + listed
        + ". Remove the key here (see docs/attacks.md, 'Faithful and valid-image mode')"
    )


def faithful_procedure(obj: object) -> FaithfulProcedure | None:
    """The authors' procedure ``obj`` (or a base class of it) can run, else ``None``."""
    by_target = {p.target: p for p in FAITHFUL_PROCEDURES}
    for cls in type(obj).__mro__:
        found = by_target.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            return found
    return None
