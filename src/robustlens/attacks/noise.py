"""Gaussian noise as a probe: Paper A's "noise accuracy" and its worst case over draws (``docs/attacks.md``)."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import Perturbation, predict
from robustlens.utils.seeding import SampleRandom, sample_keys


class GaussianNoise(Perturbation):
    """Add ``N(0, sigma²)`` noise, ``draws`` times per sample; return the worst draw.

    Paper: the noise accuracy of Buzhinsky, Nerinovsky & Tripakis, *Metrics and Methods for
    Robustness Evaluation of Neural Networks with Generative Models* (2020), A.3 (σ = 0.8 in
    their [-1,1] units = ``sigma=0.4`` here, in [0,1] units).

    Threat model: not an attack. Random, model-independent noise; the model is queried once
    per draw only to find the worst draw.

    Success: a fresh forward pass on the returned draw (the first misclassified one, else
    the first draw) predicts a class other than ``y``. ``extra["noise_accuracy"]`` is the
    per-sample fraction of draws classified correctly; its mean over a data set is the
    noise accuracy.

    Two modes (``clip``):

    * ``clip=True`` (default), **valid-image noise**: each draw is clipped to [0,1] before
      it is classified and returned, keeping robustlens' [0,1] input contract;
    * ``clip=False``, **the authors' procedure** (``Trainer.accuracy`` of their
      ``latentspace/cnn.py``: ``images + randn·σ``, no clipping): draws are classified and
      returned unclipped, so ``success`` and ``noise_accuracy`` describe exactly the noisy
      images, which leave [0,1] (``AttackResult.out_of_range``).

    Draws are keyed by the dataset ``index`` (and ``seed``), so they do not depend on batching.

    Args:
        sigma: noise standard deviation in [0,1] units.
        draws: noisy copies per sample.
        seed: seed of the per-sample draws.
        clip: clip each noisy draw to [0,1] (valid-image noise); False: the authors' noise.
        batch_size: largest number of noisy images sent to the model at once.
    """

    name = "gaussian_noise"

    def __init__(
        self,
        sigma: Annotated[float, Field(ge=0)],
        draws: Annotated[int, Field(ge=1)] = 1,
        seed: int = 0,
        clip: bool = True,
        batch_size: Annotated[int, Field(ge=1)] = 1024,
    ):
        super().__init__(norm="l2")
        self.sigma = float(sigma)
        self.draws = int(draws)
        self.seed = seed
        self.clip = bool(clip)
        self.batch_size = batch_size

    @property
    def valid_images(self) -> bool:
        return self.clip

    def noisy(self, x: Tensor, index: Tensor | None = None) -> Tensor:
        """All draws, ``[B, draws, *x.shape[1:]]`` (clipped when ``clip``)."""
        rnd = SampleRandom(sample_keys(index, x.shape[0]), self.seed, "gaussian_noise", x.device)
        noise = rnd.randn("noise", (self.draws, *x.shape[1:])).to(x.dtype)
        out = x[:, None] + self.sigma * noise
        return out.clamp(*self.bounds) if self.clip else out

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        b = x.shape[0]
        noisy = self.noisy(x, index)
        logits = predict(model, noisy.flatten(0, 1), self.batch_size)
        preds = logits.argmax(dim=1).view(b, self.draws)
        wrong = preds.ne(y[:, None])
        # first misclassified draw, else draw 0 (argmax returns the first maximum)
        chosen = wrong.to(torch.uint8).argmax(dim=1)
        x_adv = noisy[torch.arange(b, device=x.device), chosen]
        extra = {"noise_accuracy": (~wrong).float().mean(dim=1), "draw": chosen}
        return x_adv, torch.full((b,), self.draws, dtype=torch.long, device=x.device), extra
