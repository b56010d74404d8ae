"""The GREAT Score probe: classify samples of the configured generator and score each one
(Li, Chen & Ho, NeurIPS 2024, arXiv 2304.09875; the authors' code: ``IBM/GREAT-Score``).

A latent probe of the generation source (:class:`~robustlens.evaluation.latent_probes.LatentProbe`):
sample ``i`` draws its code ``z_i ~ N(0, I)`` from its dataset index and asks the generator for
the batch label ``y_i``, as LGA does, so the classes follow the evaluation data and one process
and two draw the same codes. No attack runs: one decode and one classification per sample.
Definitions: ``docs/metrics.md``, "GREAT Score".
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn

from robustlens.evaluation.latent_probe_base import LatentProbe, evaluating
from robustlens.evaluation.probe import Batch, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.metrics.functional.great import great_local_score

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class GreatScoreProbe(LatentProbe):
    """Generated samples ``G(z, y)`` with their local GREAT scores in ``values["great_score"]``.

    Args:
        temperature: the softmax temperature of the score (1: the paper's uncalibrated score;
            the paper's calibrated CIFAR-10 scores divide the logits by a tuned temperature).
        metrics: the probe's metrics (``conf/probe/great.yaml``: :class:`~robustlens.metrics.great.GreatScore`).
        max_images: how many generated images of a batch are kept for grids.
    """

    def __init__(
        self,
        temperature: PositiveFloat = 1.0,
        metrics: dict[str, ProbeMetric] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
    ):
        super().__init__("generation", metrics, max_images)
        self.temperature = float(temperature)

    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        gen = self.generator_of(context)
        codes = self.codes(batch, context)
        with evaluating(model, gen), torch.no_grad():
            images = gen.decode(codes, y)
            logits = model(images)
        preds = logits.argmax(dim=1)
        return ProbeOutput(
            index=index, labels=y, preds=preds, clean_preds=preds, success=preds.ne(y),
            values={"great_score": great_local_score(logits, y, self.temperature)},
            images=self._grid({"generated": images}),
        )
