"""Paper A's latent-space probes (A.1–A.2; definitions in `docs/metrics.md`): LGA, LRA, LLNA, LAGA/LARA, LAGS/LARS.

Every probe gets the class-conditional generator from ``context.generator`` (a
:class:`~robustlens.models.generators.base.Generator` decoding to [0,1]) and works on codes
of one of two *sources*:

* ``generation`` (LGA, LAGA, LAGS): code ``l_i ~ N(0, I)`` drawn from sample ``i``'s index
  (:mod:`robustlens.utils.seeding`) with class ``y_i`` = the batch label, so the class
  proportions follow the evaluation data (a class-stratified 600-image subset gives N/10 codes
  per digit) and 1 vs 2 processes, or batch 4 vs 16, draw the same codes;
* ``reconstruction`` (LRA, LLNA, LARA, LARS): ``l = E_y(x)`` — the generator's encoder, or
  A.5's gradient inversion with per-sample seeded restarts (batching-independent). Codes are
  cached in ``context.extras`` so the four reconstruction probes encode a batch once.
  ``x`` is the batch's (test) image, or with ``train_images`` (a
  :class:`~robustlens.data.training_images.SameRankTrainingImages`) the training image of the
  same class and rank: Paper A encoded training images for LRA/LARA/LARS.

Image-space statistics (``image_l2s``, ``image_l1``) are in the project's [0,1] units: the
paper's [-1,1] numbers are twice as large.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
from typing import Annotated, Any, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import frozen_parameters
from robustlens.attacks.geometry import margin
from robustlens.attacks.minimal_norm_search import minimal_norm_search
from robustlens.attacks.paper_a_search import SearchResult, misclassification_loss, search
from robustlens.attacks.precision import check_precision, fp32_pass, search_precision
from robustlens.data.training_images import SameRankTrainingImages
from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.models.generators.base import Generator, decay_factor, invert_by_gradient_search, scaled_l2
from robustlens.models.generators.memory import chunk_size, per_sample_graph_bytes
from robustlens.utils.seeding import per_sample_randn, stream_id

Source = Literal["generation", "reconstruction"]
NonNegFloat = Annotated[float, Field(ge=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(ge=1)]

_CODES_KEY = "latent_probes/reconstruction_codes"


def _check_source(source: str) -> None:
    if source not in ("generation", "reconstruction"):
        raise ValueError(f"source must be 'generation' (LG*) or 'reconstruction' (LR*), got {source!r}")


@contextlib.contextmanager
def _evaluating(*modules: nn.Module):
    """Eval mode and frozen parameters for the duration of a probe (restored afterwards)."""
    flags = [m.training for m in modules]
    with contextlib.ExitStack() as stack:
        for m in modules:
            m.eval()
            stack.enter_context(frozen_parameters(m))
        try:
            yield
        finally:
            for m, f in zip(modules, flags, strict=True):
                m.train(f)


class LatentProbe(Probe):
    """Base class: resolves the generator and the latent codes of a batch.

    Args:
        source: ``generation`` or ``reconstruction`` (see the module docstring).
        metrics: the probe's metrics (e.g. :class:`~robustlens.metrics.latent.LatentAccuracy`).
        max_images: how many samples of a batch keep their images for grids.
        train_images: reconstruction only: encode the training image of each test sample's
            class and rank instead of the test image (Paper A's split; config:
            ``{_target_: robustlens.data.training_images.SameRankTrainingImages, data: ${data}}``).
    """

    def __init__(
        self,
        source: Source = "generation",
        metrics: dict[str, ProbeMetric] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
        train_images: SameRankTrainingImages | None = None,
    ):
        super().__init__(metrics)
        _check_source(source)
        if train_images is not None and source != "reconstruction":
            raise ValueError("train_images applies to reconstruction probes (source: reconstruction) only")
        self.source = source
        self.max_images = max_images
        self.train_images = train_images
        self.memory_budget_mb: float | None = None
        self._graph_bytes: dict[tuple, int] = {}

    def images(self, batch: Batch) -> Tensor:
        """The real images a reconstruction probe encodes: the batch's, or ``train_images``'."""
        x, y, index = batch
        if self.train_images is None:
            return x
        return self.train_images(y, index).to(device=x.device, dtype=x.dtype)

    def set_memory_budget(self, megabytes: float | None) -> None:
        """Split batches into chunks whose autograd graphs fit ``megabytes`` (``evaluation.memory_budget_mb``).

        Why: at 128×128 a batch of searches through a deep generator needs gigabytes; chunks
        run one after another, so only one chunk's images and graphs exist at a time. Per-sample
        results do not depend on the chunking (codes, starts and noise are drawn per sample).
        """
        if megabytes is not None and not (math.isfinite(megabytes) and megabytes > 0):
            raise ValueError(f"memory_budget_mb must be a positive number of megabytes or null, got {megabytes!r}")
        self.memory_budget_mb = None if megabytes is None else float(megabytes)

    def graphs_per_sample(self) -> float:
        """How many decode+classify graphs one sample holds at once (the noise probe: its draws)."""
        return 1.0

    def _sample_bytes(self, gen: nn.Module, model: nn.Module, x: Tensor, y: Tensor) -> int:
        key = (id(gen), id(model), tuple(x.shape[1:]), x.dtype, str(x.device))
        if key not in self._graph_bytes:
            with _evaluating(model, gen):
                self._graph_bytes[key] = per_sample_graph_bytes(gen, model, y)
        return self._graph_bytes[key]

    def chunk_size_for(self, gen: nn.Module, model: nn.Module, x: Tensor, y: Tensor, copies: float) -> int:
        """Samples per chunk under the memory budget (the whole batch without one)."""
        if self.memory_budget_mb is None or len(y) == 0:
            return len(y)
        return chunk_size(self.memory_budget_mb, self._sample_bytes(gen, model, x, y), copies, total=len(y))

    def run(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        """:meth:`run_batch` on chunks that fit the memory budget, merged into one output."""
        x, y, index = batch
        gen = self.generator_of(context)
        size = self.chunk_size_for(gen, model, x, y, self.graphs_per_sample())
        if size >= len(y):
            return self.run_batch(model, batch, context)
        full_codes = self.codes(batch, context) if self.source == "reconstruction" else None
        split = "test" if self.train_images is None else "train"
        outputs = []
        for start in range(0, len(y), size):
            part = slice(start, start + size)
            logits = context.clean_logits
            chunk_context = dataclasses.replace(context, clean_logits=None if logits is None else logits[part])
            if full_codes is not None:  # the chunk finds its codes in the cache
                context.extras[_CODES_KEY] = (index[part], split, full_codes[part])
            out = self.run_batch(model, (x[part], y[part], index[part]), chunk_context)
            if outputs:  # only the first chunk's images feed the grids
                out.images = {}
            outputs.append(out)
        if full_codes is not None:
            context.extras[_CODES_KEY] = (index.clone(), split, full_codes)
        return _concat_outputs(outputs)

    @abc.abstractmethod
    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        """The probe on one chunk of a batch."""

    @staticmethod
    def generator_of(context: ProbeContext) -> Generator:
        gen = context.generator
        if gen is None:
            raise ValueError(
                "latent probes need a generator (context.generator is None): "
                "pass `generator` to the evaluation"
            )
        if not hasattr(gen, "decode") or not hasattr(gen, "latent_dim"):
            raise TypeError(f"context.generator must be a robustlens Generator, got {type(gen).__name__}")
        return gen  # type: ignore[return-value]

    def codes(self, batch: Batch, context: ProbeContext) -> Tensor:
        """The latent code of every sample of the batch (``[B, n]``)."""
        x, y, index = batch
        gen = self.generator_of(context)
        if self.source == "generation":
            dtype = next((p.dtype for p in gen.parameters() if p.is_floating_point()), x.dtype)
            return per_sample_randn(
                index,
                (gen.latent_dim,),
                context.seed,
                stream_id("latent/generation"),
                device=x.device,
                dtype=dtype,
            )
        split = "test" if self.train_images is None else "train"
        cached = context.extras.get(_CODES_KEY)
        if cached is not None and cached[1] == split and torch.equal(cached[0], index):
            return cached[2]
        x = self.images(batch)  # the test images, or their training partners
        if gen.has_encoder:
            with torch.no_grad():
                codes = gen.encode(x, y)
        else:
            init = per_sample_randn(
                index,
                (gen.inversion_restarts, gen.latent_dim),
                context.seed,
                stream_id("latent/inversion"),
                device=x.device,
            )
            init = init.transpose(0, 1).contiguous()
            # one chunk of R restarts per sample at a time (generator graph only: the loss is an MSE)
            size = self.chunk_size_for(gen, nn.Identity(), x, y, gen.inversion_restarts)
            codes = torch.cat([
                invert_by_gradient_search(
                    gen,
                    x[s : s + size],
                    y[s : s + size],
                    restarts=gen.inversion_restarts,
                    steps=gen.inversion_steps,
                    lr=gen.inversion_lr,
                    init=init[:, s : s + size],
                )
                for s in range(0, len(y), size)
            ]) if len(y) else invert_by_gradient_search(
                gen, x, y, restarts=gen.inversion_restarts, steps=gen.inversion_steps,
                lr=gen.inversion_lr, init=init,
            )
        codes = codes.detach()
        context.extras[_CODES_KEY] = (index.clone(), split, codes)
        return codes

    def _grid(self, images: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v[: self.max_images].detach().cpu() for k, v in images.items()} if self.max_images else {}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {**super().describe(), "source": self.source}
        if self.source == "reconstruction":
            out["images"] = "test" if self.train_images is None else "train (same class and rank)"
        return out


def _concat_outputs(outputs: list[ProbeOutput]) -> ProbeOutput:
    """One :class:`ProbeOutput` from the outputs of consecutive chunks (images: the first chunk's)."""

    def cat(name: str) -> Tensor | None:
        parts = [getattr(o, name) for o in outputs]
        return None if any(p is None for p in parts) else torch.cat(parts)

    first = outputs[0]
    return dataclasses.replace(
        first,
        **{f.name: cat(f.name) for f in dataclasses.fields(first) if f.name not in ("values", "images")},
        values={k: torch.cat([o.values[k] for o in outputs]) for k in first.values},
        images=first.images,
    )


def _clean_decision(context: ProbeContext, fallback: Tensor) -> Tensor:
    return context.clean_logits.argmax(dim=1) if context.clean_logits is not None else fallback


class LatentAccuracyProbe(LatentProbe):
    """LGA (``source=generation``) and LRA (``source=reconstruction``): ``f(G_y(l)) = y``."""

    def run_batch(self, model: nn.Module, batch: Batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        x = self.images(batch)
        gen = self.generator_of(context)
        codes = self.codes(batch, context)
        with _evaluating(model, gen), torch.no_grad():
            images = gen.decode(codes, y)
            preds = model(images).argmax(dim=1)
            train_preds = model(x).argmax(dim=1) if self.train_images is not None else None
        grid = (
            {"generated": images} if self.source == "generation" else {"original": x, "reconstructed": images}
        )
        # the unperturbed decision: the real image for a reconstruction (a flip = the
        # reconstruction changed the decision), the generated image itself for a generation
        clean_preds = _clean_decision(context, preds) if self.source == "reconstruction" else preds
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
        metrics: dict[str, ProbeMetric] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
        train_images: SameRankTrainingImages | None = None,
    ):
        super().__init__(source, metrics, max_images, train_images)
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"eps must be a finite number >= 0, got {eps!r}")
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
        with _evaluating(model, gen), torch.no_grad():
            images = gen.decode(noisy.reshape(b * self.draws, n), yy)
            preds = model(images).argmax(dim=1).view(b, self.draws)
        rate = preds.eq(y[:, None]).double().mean(dim=1)
        majority = torch.mode(preds, dim=1).values
        with _evaluating(model, gen), torch.no_grad():
            unperturbed = model(gen.decode(codes, y)).argmax(dim=1)
        return ProbeOutput(
            index=index,
            labels=y,
            preds=majority,
            clean_preds=unperturbed,
            values={"accuracy": rate},
            images=self._grid({"noisy": images.view(b, self.draws, *images.shape[1:])[:, 0]}),
        )

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "eps": self.eps, "draws": self.draws}


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
        metrics: dict[str, ProbeMetric] | None = None,
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
        if min_search not in (None, "fmn", "paper_a"):
            raise ValueError(f"min_search must be 'fmn' or 'paper_a', got {min_search!r}")
        if mode not in ("any", "min"):
            raise ValueError(f"mode must be 'any' (LAGA/LARA) or 'min' (LAGS/LARS), got {mode!r}")
        if not (math.isfinite(rho) and rho > 0):
            raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
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
        with _evaluating(model, gen):
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
            with torch.no_grad(), _evaluating(gen):
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

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "mode": self.mode,
            "rho": self.rho,
            "steps": self.steps,
            "rel_step": self.rel_step,
            "restarts": self.restarts,
            "random_start": self.random_start,
            "eps": self.eps,
            "decay": 1 - decay_factor(self.eps),
            "faithful": self.faithful,
            "search": "fmn" if self.uses_fmn else "paper_a",
            **({"min_steps": self.min_steps} if self.uses_fmn else {}),
        }


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
