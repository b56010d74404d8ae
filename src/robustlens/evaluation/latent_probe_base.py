"""The base of Paper A's latent-space probes (:mod:`robustlens.evaluation.latent_probes`): the generator, the codes, the chunking.

Every probe gets the class-conditional generator from ``context.generator`` (a
:class:`~robustlens.models.generators.base.Generator` decoding to [0,1]) and works on codes
of one of two *sources*:

* ``generation`` (LGA, LAGA, LAGS): code ``l_i ~ N(0, I)`` drawn from sample ``i``'s index
  (:mod:`robustlens.utils.seeding`) with class ``y_i`` = the batch label, so the class
  proportions follow the evaluation data (a class-stratified 600-image subset gives N/10 codes
  per digit) and 1 vs 2 processes, or batch 4 vs 16, draw the same codes;
* ``reconstruction`` (LRA, LLNA, LARA, LARS): ``l = E_y(x)`` — the generator's encoder, or
  A.5's gradient inversion with per-sample seeded restarts (batching-independent). Codes are
  cached in ``context.latent_codes`` (:class:`~robustlens.evaluation.latent_codes.LatentCodeCache`) so the four reconstruction probes encode a batch once.
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
from robustlens.data.training_images import SameRankTrainingImages
from robustlens.evaluation.probe import Batch, Probe, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput
from robustlens.models.generators.base import Generator, invert_by_gradient_search
from robustlens.models.generators.memory import chunk_size, per_sample_graph_bytes
from robustlens.utils.seeding import per_sample_randn, stream_id

Source = Literal["generation", "reconstruction"]


@contextlib.contextmanager
def evaluating(*modules: nn.Module):
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
        metrics: dict[str, ProbeMetric | None] | None = None,
        max_images: Annotated[int, Field(ge=0)] = 16,
        train_images: SameRankTrainingImages | None = None,
    ):
        super().__init__(metrics)
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
            with evaluating(model, gen):
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
                context.latent_codes.put(index[part], split, full_codes[part])
            out = self.run_batch(model, (x[part], y[part], index[part]), chunk_context)
            if outputs:  # only the first chunk's images feed the grids
                out.images = {}
            outputs.append(out)
        if full_codes is not None:
            context.latent_codes.put(index, split, full_codes)
        return concat_outputs(outputs)

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
        cached = context.latent_codes.get(index, split)
        if cached is not None:
            return cached
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
        context.latent_codes.put(index, split, codes)
        return codes

    def _grid(self, images: dict[str, Tensor]) -> dict[str, Tensor]:
        return {k: v[: self.max_images].detach().cpu() for k, v in images.items()} if self.max_images else {}

    def _describe_extra(self) -> dict[str, Any]:
        extra = super()._describe_extra()
        if self.source != "reconstruction":
            return extra
        return {**extra, "images": "test" if self.train_images is None else "train (same class and rank)"}



def concat_outputs(outputs: list[ProbeOutput]) -> ProbeOutput:
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


def clean_decision(context: ProbeContext, fallback: Tensor) -> Tensor:
    return context.clean_logits.argmax(dim=1) if context.clean_logits is not None else fallback
