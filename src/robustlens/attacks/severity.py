"""Image-space adversarial severity and bounded accuracy with Paper A's search (``docs/attacks.md``).

Units. Paper A's images live in [-1, 1]; robustlens images live in [0, 1], so every
perturbation is **half** as large here. The MNIST caps of the paper, 0.6 (scaled L2) and
1.2 (L∞) in [-1,1] units, are ``rho=0.3`` and ``rho=0.6`` in these classes, and the bounded
attacks' 0.1/0.15 (scaled L2) and 0.15/0.25 (L∞) become 0.05/0.075 and 0.075/0.125.
Norms in :class:`~robustlens.attacks.base.AttackResult` are in [0,1] units; the same norm
in the paper's units is in ``extra["norm_pm1"]`` (= 2 × norm) for side-by-side tables.
(An L∞ cap of 0.6 in [0,1] units is larger than half the range: it is effectively
unbounded, as in the paper.)

Severity = plain mean of ``AttackResult.norm`` over all samples: a point where no adversarial
input was found contributes the norm of the first run's final perturbation (not censored).

One implementation, two kinds. :class:`PaperASearchAttack` holds the parameters and the
search; the kind is a type (``docs/attacks.md``): :class:`PaperASeverity` runs the 'min'
search and is a :class:`~robustlens.attacks.base.MinimalNormAttack`,
:class:`PaperABoundedAttack` the 'any' search and a
:class:`~robustlens.attacks.base.BoundedAttack` with budget ``eps = rho``. The A.3 settings
of each (T, s, R) are presets in ``conf/attack/`` (``severity_l2``, ``paper_a_bounded_l2``, …).

Two modes (``faithful``):

* ``faithful=False`` (default), **valid-image severity**: every searched point and the
  returned image are clipped to [0,1], so success and the norm are those of a valid image.
  This is robustlens' own quantity, not the paper's;
* ``faithful=True``, **the authors' procedure** (``Trainer.measure_adversarial_severity`` and
  ``Trainer.measure_robustness`` of their ``latentspace/cnn.py``): the search runs unclipped
  and the returned image is the unclipped one; success is judged (by the base class's fresh
  forward pass) and the norm measured on exactly that image, which may leave [0,1]
  (``AttackResult.out_of_range``). With ``random_start=False`` the search is deterministic.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import Attack, BoundedAttack, MinimalNormAttack, perturbation_norm
from robustlens.attacks.paper_a_search import misclassification_loss, random_start_draws, search

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]


class PaperASearchAttack(Attack):
    """Paper A's projected-gradient search (A.4) in image space; use one of its two kinds.

    Paper: Buzhinsky, Nerinovsky & Tripakis, *Metrics and methods for robustness evaluation
    of neural networks with generative models* (2020), A.3/A.4.

    Threat model: white-box, untargeted, additive perturbation in scaled L2 (‖δ‖₂/√n) or
    L∞ of radius ``rho`` in [0,1] image units; gradients of ``max_{k≠y} p_k − p_y`` on the
    softmax probabilities.

    Success: a fresh forward pass on the returned image (clipped to [0,1] unless
    ``faithful``) predicts a class other than ``y``.

    Args:
        rho: budget (bounded kind) or cap (severity kind), in [0,1] image units.
        norm: ``scaled_l2`` (L2/√n_I) or ``linf``.
        steps: T, steps per run.
        rel_step: s, the step is ``rho_cur · s`` in the search norm.
        restarts: R, runs per sample ('any': until one succeeds; 'min': all, shrinking ρ).
        random_start: start each run at a random point of the ρ ball (else at its centre).
        faithful: the authors' unclipped procedure (module docstring); default: valid images.
        seed: seed of the per-sample random starts when dataset indices are given.
        bounds: the valid image range.
    """

    name = "paper_a_search"
    #: 'any' (stop at the first successful run) or 'min' (keep shrinking): set by the kind
    mode: ClassVar[Literal["any", "min"]]

    def __init__(
        self,
        rho: PositiveFloat,
        norm: Literal["scaled_l2", "linf"] = "scaled_l2",
        steps: PositiveInt = 50,
        rel_step: PositiveFloat = 0.05,
        restarts: PositiveInt = 1,
        random_start: bool = True,
        faithful: bool = False,
        seed: int = 0,
        bounds: tuple[float, float] = (0.0, 1.0),
    ):
        if type(self) is PaperASearchAttack:
            raise TypeError("use PaperASeverity ('min' search) or PaperABoundedAttack ('any' search)")
        super().__init__(norm=norm, bounds=bounds, targeted=False)
        self.rho = float(rho)
        self.steps, self.rel_step, self.restarts = int(steps), float(rel_step), int(restarts)
        self.random_start, self.faithful, self.seed = bool(random_start), bool(faithful), int(seed)

    @property
    def valid_images(self) -> bool:
        return not self.faithful

    def _describe_extra(self) -> dict:
        return {"mode": self.mode, "valid_images": self.valid_images}

    def start_draws(self, x: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
        """The unit draws of every sample's random starts (``paper_a_search.random_start_draws``).

        Exactly the numbers :meth:`__call__` uses given the same ``index``: a reference comparison
        can feed them to the authors' ``PGDAdversary`` so both searches start from the same points.
        """
        return random_start_draws(
            x.shape[0], tuple(x.shape[1:]), self.restarts, self.norm, index=index, seed=self.seed,
            stream=self._stream, device=x.device, dtype=x.dtype,
        )

    @property
    def _stream(self) -> str:
        return f"{self.name}/{self.norm}"

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        def objective(points: Tensor, rows: Tensor) -> Tensor:
            return misclassification_loss(model(points), y[rows])

        res = search(
            objective,
            x,
            rho=self.rho,
            steps=self.steps,
            rel_step=self.rel_step,
            restarts=self.restarts,
            mode=self.mode,
            norm=self.norm,
            random_start=self.random_start,
            index=index,
            seed=self.seed,
            stream=self._stream,
            faithful=self.faithful,
            bounds=self.bounds,
        )
        x_adv = x + res.delta
        # the norm in the paper's [-1,1] units, of exactly the image the base class returns
        returned = x_adv if self.faithful else x_adv.clamp(*self.bounds)
        pm1 = 2 * perturbation_norm(returned - x, self.norm)
        return x_adv, res.grad_evals, {"found": res.found, "norm_pm1": pm1}


class PaperASeverity(PaperASearchAttack, MinimalNormAttack):
    """A.3's image-space adversarial severity: the 'min' search; mean ``norm`` = severity.

    Paper: Buzhinsky, Nerinovsky & Tripakis (2020), A.3 (severity) and A.4 (the search).

    Threat model: white-box, untargeted, no budget (a minimal-norm search under the cap
    ``rho``), scaled L2 or L∞.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``;
    then ``norm`` is the smallest adversarial norm found.

    Preset (``conf/attack/severity_l2.yaml``, ``severity_linf.yaml``): T = 50, s = 0.05,
    R = 15, caps ``rho=0.3`` (scaled L2) / ``rho=0.6`` (L∞) in [0,1] units = the paper's
    0.6 / 1.2. Where ``success`` is False, ``norm`` is the first run's final perturbation
    (Paper A's uncensored convention). Parameters: :class:`PaperASearchAttack`.
    """

    name = "severity"
    mode: ClassVar[Literal["any", "min"]] = "min"


class PaperABoundedAttack(PaperASearchAttack, BoundedAttack):
    """A.3's bounded image attack: the 'any' search with budget ``eps = rho``.

    Paper: Buzhinsky, Nerinovsky & Tripakis (2020), A.3 (bounded accuracy) and A.4.

    Threat model: white-box, untargeted, scaled-L2 or L∞ ball of radius ``rho``.

    Success: a fresh forward pass on the returned image predicts a class other than ``y``.

    Preset (``conf/attack/paper_a_bounded_l2.yaml``, ``_linf.yaml``): one run, T = 25,
    s = 0.1, random start. Parameters: :class:`PaperASearchAttack`.
    """

    name = "paper_a_bounded"
    mode: ClassVar[Literal["any", "min"]] = "any"

    @property
    def eps(self) -> float:  # type: ignore[override]
        """The budget: Paper A calls it ρ."""
        return self.rho


__all__ = ["PaperABoundedAttack", "PaperASearchAttack", "PaperASeverity"]
