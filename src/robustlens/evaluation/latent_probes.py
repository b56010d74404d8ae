"""Paper A's latent-space probes (A.1–A.2; definitions in `docs/metrics.md`): LGA, LRA, LLNA, LAGA/LARA, LAGS/LARS.

Every probe gets the class-conditional generator from ``context.generator`` and works on the
codes of one of two *sources*, ``generation`` (LG*) or ``reconstruction`` (LR*), resolved by
their base class :class:`~robustlens.evaluation.latent_probe_base.LatentProbe` (which also
splits a batch into chunks under the memory budget).

Image-space statistics (``image_l2s``, ``image_l1``) are in the project's [0,1] units: the
paper's [-1,1] numbers are twice as large.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.geometry import margin
from robustlens.attacks.minimal_norm_search import minimal_norm_search
from robustlens.attacks.paper_a_search import SearchResult, misclassification_loss, search
from robustlens.attacks.precision import check_precision, fp32_pass, search_precision
from robustlens.data.training_images import SameRankTrainingImages
from robustlens.evaluation.latent_probe_base import LatentProbe, Source, clean_decision, evaluating
from robustlens.evaluation.probe import Batch, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.models.generators.base import Generator, decay_factor, scaled_l2
from robustlens.utils.seeding import per_sample_randn, stream_id

NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(ge=1)]


class LatentAccuracyProbe(LatentProbe):
    """LGA (``source=generation``) and LRA (``source=reconstruction``): ``f(G_y(l)) = y``."""

    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        x = self.images(batch)
        gen = self.generator_of(context)
        codes = self.codes(batch, context)
        with evaluating(model, gen), torch.no_grad():
            images = gen.decode(codes, y)
            preds = model(images).argmax(dim=1)
            train_preds = model(x).argmax(dim=1) if self.train_images is not None else None
        grid = (
            {"generated": images} if self.source == "generation" else {"original": x, "reconstructed": images}
        )
        # the unperturbed decision: the real image for a reconstruction (a flip = the
        # reconstruction changed the decision), the generated image itself for a generation
        clean_preds = clean_decision(context, preds) if self.source == "reconstruction" else preds
        if train_preds is not None:
            clean_preds = train_preds
        return ProbeOutput(
            index=index, labels=y, preds=preds, clean_preds=clean_preds, success=preds.ne(y),
            images=self._grid(grid),
        )


class LatentNoiseProbe(LatentProbe):
    """LLNA(ε): per image, the rate over ``draws`` noise samples ν of
    ``f(G_y((l + εν)/√(1+ε²))) = y`` (in ``values["accuracy"]``); ``preds`` is the majority
    prediction over the draws. The same ν are used for every ε (paired curves)."""

    def __init__(
        self,
        eps: NonNegFloat = 0.5,
        draws: PositiveInt = 10,
        source: Source = "reconstruction",
        metrics: dict[str, ProbeMetric | None] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
        train_images: SameRankTrainingImages | None = None,
    ):
        super().__init__(source, metrics, max_images, train_images)
        self.eps, self.draws = float(eps), int(draws)

    def graphs_per_sample(self) -> float:
        return float(self.draws)

    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        gen = self.generator_of(context)
        codes = self.codes(batch, context)
        b, n = codes.shape
        nu = per_sample_randn(
            index, (self.draws, n), context.seed, stream_id("latent/noise"), device=codes.device
        )
        noisy = (codes[:, None, :] + self.eps * nu) * decay_factor(self.eps)
        yy = y.repeat_interleave(self.draws)
        with evaluating(model, gen), torch.no_grad():
            images = gen.decode(noisy.reshape(b * self.draws, n), yy)
            preds = model(images).argmax(dim=1).view(b, self.draws)
        rate = preds.eq(y[:, None]).double().mean(dim=1)
        majority = torch.mode(preds, dim=1).values
        with evaluating(model, gen), torch.no_grad():
            unperturbed = model(gen.decode(codes, y)).argmax(dim=1)
        return ProbeOutput(
            index=index,
            labels=y,
            preds=majority,
            clean_preds=unperturbed,
            values={"accuracy": rate},
            images=self._grid({"noisy": images.view(b, self.draws, *images.shape[1:])[:, 0]}),
        )


class LatentAdversarialProbe(LatentProbe):
    """LAGA_ρ / LARA_ρ (``mode='any'``, bounded by ``rho``) and LAGS / LARS (``mode='min'``,
    ``rho`` = ρ_max): A.4's search from the decayed code ``l_d = l/√(1+ε²)``.

    A code already misclassified at ``l_d`` is not searched: ``Δl = 0`` (accuracy 0, severity
    0 — the minimal adversarial norm is 0 by definition). ``success`` and ``preds`` come from
    a fresh forward pass at ``G(l_d + Δl)``; ``norm`` = ‖Δl‖ₛ. ``values``: ``latent_norm``
    (‖Δl‖ₛ), ``norm_growth`` (‖l_d+Δl‖ₛ − ‖l_d‖ₛ), ``image_l2s`` (‖Δx‖₂/√n_I), ``image_l1``
    (‖Δx‖₁/n_I), with ``Δx = G(l_d+Δl) − G(l_d)``; for ``mode='min'`` also ``min_norm``
    (‖Δl‖ₛ where the search succeeded, ``+inf`` elsewhere), from which every bounded accuracy
    LAGA/LARA(ρ) follows (``RobustAccuracyCurve``; see ``docs/latent-search.md``).

    Which search (``docs/latent-search.md``): ``mode='any'`` always runs A.4's bounded search;
    ``mode='min'`` runs robustlens' minimal-norm search
    (:func:`~robustlens.attacks.minimal_norm_search.minimal_norm_search`, ``min_steps``
    evaluations on a logit margin) unless ``faithful`` or ``min_search='paper_a'``, which run
    A.4's 12×50 'min' search.

    Args:
        mode: ``any`` (bounded accuracy) or ``min`` (severity).
        rho, steps, rel_step, restarts, random_start: A.4's ρ, T, s, R (MNIST defaults).
        eps: size of the natural latent noise that defines the decay (ε=1 → d = 0.29289).
        faithful: reproduce the authors' search exactly (see :mod:`robustlens.attacks.paper_a_search`).
        min_search: ``fmn`` (default unless faithful) or ``paper_a`` for ``mode='min'``.
        min_steps: gradient evaluations per code of the ``fmn`` search.
        precision: the arithmetic of the search's classifier passes (``fp32 | tf32 | bf16 | fp16``;
            default: ``evaluation.precision``; ``float32`` is an older name of fp32). The generator
            stays fp32: in bf16 Paper A's WGAN images are off by up to 0.36 per pixel, which moves a
            minimal search's boundary points off the fp32 boundary, while the classifier's logits
            move by ≤ 0.09 (``benchmarks/bench_latent_search.py --only-levers``). The decision that
            reports success is always an fp32 pass (``docs/precision.md``). Never allowed with ``faithful``.
    """

    def __init__(
        self,
        source: Source = "generation",
        mode: Literal["any", "min"] = "min",
        rho: PositiveFloat = 2.5,
        steps: PositiveInt = 50,
        rel_step: PositiveFloat = 0.05,
        restarts: PositiveInt = 12,
        random_start: bool = True,
        eps: NonNegFloat = 1.0,
        faithful: bool = False,
        metrics: dict[str, ProbeMetric | None] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
        train_images: SameRankTrainingImages | None = None,
        min_search: Literal["fmn", "paper_a"] | None = None,
        min_steps: PositiveInt = 100,
        precision: Literal["fp32", "tf32", "bf16", "fp16", "float32"] | None = None,
    ):
        super().__init__(source, metrics, max_images, train_images)
        self.precision = check_precision(precision, faithful=faithful) if precision else None
        if faithful and min_search == "fmn":
            raise ValueError(
                "min_search=fmn is robustlens' own search, not the authors': with faithful=true use "
                "min_search=paper_a (or leave it unset)"
            )
        self.mode, self.rho, self.steps, self.rel_step = mode, float(rho), int(steps), float(rel_step)
        self.restarts, self.random_start, self.eps, self.faithful = (
            int(restarts),
            random_start,
            float(eps),
            faithful,
        )
        self.min_search = min_search or ("paper_a" if faithful else "fmn")
        self.min_steps = int(min_steps)

    @property
    def faithful_search(self) -> bool:
        return self.faithful

    @property
    def uses_fmn(self) -> bool:
        """Whether this probe runs robustlens' minimal-norm search (else A.4's)."""
        return self.mode == "min" and self.min_search == "fmn"

    def _search(self, model: nn.Module, gen: Generator, start: Tensor, y: Tensor, index: Tensor,
                context: ProbeContext) -> SearchResult:
        """The search of the codes ``start`` (all correctly classified at ``l_d``), its classifier
        passes in the probe's precision, the generator's in fp32."""
        device = start.device.type
        labels = _RowLabels(y)

        def logits(points: Tensor, rows: Tensor) -> Tensor:
            with fp32_pass(device):  # the generator stays fp32: see ``precision``
                images = gen.decode(points, labels(rows))
            return model(images).to(images.dtype)

        with search_precision(self.search_precision, device):
            if self.uses_fmn:
                return minimal_norm_search(
                    lambda points, rows: -margin(logits(points, rows), labels(rows)),  # max_{k≠y} z_k − z_y
                    start, rho_max=self.rho, steps=self.min_steps,
                )
            return search(
                lambda points, rows: misclassification_loss(logits(points, rows), labels(rows)),
                start,
                rho=self.rho,
                steps=self.steps,
                rel_step=self.rel_step,
                restarts=self.restarts,
                mode=self.mode,
                norm="scaled_l2",
                random_start=self.random_start,
                index=index,
                seed=context.seed,
                stream=f"latent/search/{self.source}/{self.mode}",
                faithful=self.faithful,
            )

    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        gen = self.generator_of(context)
        codes = self.codes(batch, context)
        l_d = codes * decay_factor(self.eps)
        with evaluating(model, gen):
            with torch.no_grad(), fp32_pass(l_d.device.type):
                x_d = gen.decode(l_d, y)
                clean_preds = model(x_d).argmax(dim=1)
            todo = clean_preds.eq(y).nonzero().squeeze(1)  # already misclassified: Δl = 0
            delta = torch.zeros_like(l_d)
            evals = torch.ones(len(y), dtype=torch.long, device=y.device)
            if todo.numel():
                res = self._search(model, gen, l_d[todo], y[todo], index[todo], context)
                delta[todo] = res.delta.to(delta.dtype)
                evals[todo] = res.grad_evals
            with torch.no_grad(), fp32_pass(l_d.device.type):  # the verdict: fp32 whatever the search ran in
                x_adv = gen.decode(l_d + delta, y)
                preds = model(x_adv).argmax(dim=1)
        dx = (x_adv - x_d).flatten(1)
        n_img = dx.shape[1]
        latent_norm = scaled_l2(delta)
        values = {
            "latent_norm": latent_norm,
            "norm_growth": scaled_l2(l_d + delta) - scaled_l2(l_d),
            "image_l2s": dx.norm(dim=1) / math.sqrt(n_img),
            "image_l1": dx.abs().sum(dim=1) / n_img,
        }
        if self.mode == "min":
            success = preds.ne(y)
            values["min_norm"] = torch.where(success, latent_norm, torch.full_like(latent_norm, math.inf))
        grid: dict[str, Tensor] = {}
        if self.max_images:
            with torch.no_grad(), evaluating(gen):
                g_l = gen.decode(codes[: self.max_images], y[: self.max_images])
            grid = (
                {"original": self.images(batch)[: self.max_images], "reconstructed": g_l}
                if self.source == "reconstruction"
                else {"original": g_l}
            )
            # difference mapped to [0,1] for display: 0.5 = no change
            grid.update({"decayed": x_d, "adversarial": x_adv, "difference": (x_adv - x_d + 1) / 2})
        return ProbeOutput(
            index=index,
            labels=y,
            preds=preds,
            clean_preds=clean_preds,
            success=preds.ne(y),
            norm=latent_norm,
            iterations=evals,
            values=values,
            images=self._grid(grid),
        )

    def _describe_extra(self) -> dict[str, Any]:
        return {**super()._describe_extra(), "decay": 1 - decay_factor(self.eps),
                "search": "fmn" if self.uses_fmn else "paper_a"}


class _RowLabels:
    """``y[rows]`` computed once per working set of a search: the same ``rows`` tensor between two
    compactions gives the same label tensor, so a generator checks and groups the labels once
    (``robustlens.models.generators.checks.LabelFacts``) instead of at every step."""

    def __init__(self, y: Tensor):
        self.y = y
        self._rows: Tensor | None = None
        self._labels: Tensor | None = None

    def __call__(self, rows: Tensor) -> Tensor:
        if rows is not self._rows or self._labels is None:
            self._rows, self._labels = rows, self.y[rows]
        return self._labels
