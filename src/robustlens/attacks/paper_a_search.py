"""Paper A's projected-gradient search ("PGDAdversary", ``methods.md`` A.4), batched over samples.

Why a batched rewrite: the authors search one sample at a time, which leaves a CPU or GPU
mostly idle on 600 codes × 12 restarts × 50 steps. Here every sample keeps its *own*
state — current radius ``ρ_cur``, restart number, step number, best perturbation — and the
samples advance asynchronously: when one sample's run ends it starts its next restart at
the next iteration while the others continue. Each iteration evaluates the objective only on
the still-searching samples (the batch is compacted), so the cost of a step is the cost of
the active samples, and a sample's result does not depend on what else is in the batch.

Per sample the procedure is exactly the pseudo-code of A.4 (and the authors' code):

* the objective is evaluated *before* stepping, so ``t = 1`` tests the start; ``L > 0`` ends
  the run as a success;
* step ``ρ_cur · s · g/‖g‖`` in the search norm (scaled L2: ``‖g‖₂/√n``; L∞: ``sign(g)``);
  a zero gradient ends the run unsuccessfully (as in the authors' code);
* projection onto the ``ρ_cur`` ball (L2: rescale; L∞: clamp);
* ``'any'`` stops at the first successful run; ``'min'`` keeps a successful run's ``p`` when
  it is smaller than the best so far and shrinks ``ρ_cur`` to its norm;
* nothing found → the first run's final ``p`` (its last step is never evaluated).

``faithful=True`` keeps the authors' quirks: no clipping of points to a valid range and no
"last restart from the centre" (their docstring promises one but it never happens). The
default (``faithful=False``) differs only where it cannot make results worse:

* with ``bounds`` given (image-space search) the searched points are clipped to the range,
  so the classifier is only ever evaluated on valid images (``p`` is replaced by the clipped
  perturbation, which never increases any coordinate's magnitude, so it stays in the ball);
* in ``'min'`` mode a sample whose radius reached 0 stops (no smaller norm exists), which
  saves gradient evaluations without changing the result;
* in ``'min'`` mode a run must beat the best norm by a relative ``TIE_RTOL`` (1e-5): runs that
  end on the ρ_cur sphere tie with the best up to rounding, and the authors' strict ``<``
  lets the last bit (which depends on the batch size through BLAS) pick the kept point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from robustlens.utils.seeding import per_sample_rand, per_sample_randn, stream_id

SearchNorm = Literal["scaled_l2", "l2", "linf"]
SearchMode = Literal["any", "min"]

#: objective(points [A, ...], rows long[A]) -> L [A]; ``rows`` are the positions of the
#: evaluated points in the original batch (so the objective can look up labels/classes).
Objective = Callable[[Tensor, Tensor], Tensor]

#: relative margin by which a 'min' run must beat the best norm (non-faithful mode)
TIE_RTOL = 1e-5


@dataclass
class SearchResult:
    """Per-sample outcome of :func:`search` for a batch of ``B`` samples.

    Attributes:
        delta: the returned perturbation ``p`` (best found, else the first run's final one).
        found: bool[B], whether some run reached ``L > 0`` (the search's own book-keeping;
            callers that report success re-check it with a fresh forward pass).
        norm: float[B], ``‖delta‖`` in the search norm.
        grad_evals: long[B], objective+gradient evaluations spent on the sample.
    """

    delta: Tensor
    found: Tensor
    norm: Tensor
    grad_evals: Tensor


def search_norm(v: Tensor, norm: str) -> Tensor:
    """Per-row norm of ``v`` [B, ...] in the search norm (scaled L2 = ‖v‖₂/√n)."""
    flat = v.flatten(1)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(dim=1)
    if norm == "scaled_l2":
        return flat.norm(dim=1) / math.sqrt(flat.shape[1])
    raise ValueError(f"unknown search norm {norm!r}; use 'scaled_l2', 'l2' or 'linf'")


def misclassification_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Paper A's objective ``max_{k≠y} p_k − p_y`` on softmax probabilities (> 0 ⇔ misclassified)."""
    probs = logits.softmax(dim=1)
    p_true = probs.gather(1, y[:, None]).squeeze(1)
    others = probs.scatter(1, y[:, None], float("-inf"))
    return others.amax(dim=1) - p_true


def random_start_draws(
    n: int,
    shape: tuple[int, ...],
    restarts: int,
    norm: str,
    *,
    index: Tensor | None = None,
    seed: int = 0,
    stream: str = "paper_a_search",
    generator: torch.Generator | None = None,
    device=None,
    dtype=None,
) -> tuple[Tensor, Tensor]:
    """Unit draws for every sample's random starts: ``(noise [n, R, *shape], radius [n, R])``.

    The start of restart ``r`` is ``noise/‖noise‖·ρ_cur·radius`` (L2) or
    ``(2·noise − 1)·ρ_cur·radius`` with uniform noise (L∞). Drawing the unit numbers up front
    (they do not depend on ``ρ_cur``) makes a sample's starts a function of its index only.
    """
    full = (restarts, *shape)
    noise_fn = per_sample_rand if norm == "linf" else per_sample_randn
    if index is not None:
        sid = stream_id(stream)
        noise = noise_fn(index, full, seed, sid, device=device, dtype=dtype)
        radius = per_sample_rand(index, (restarts,), seed, sid + 1, device=device, dtype=dtype)
        return noise, radius
    draw = torch.rand if norm == "linf" else torch.randn
    noise = draw((n, *full), generator=generator, dtype=dtype).to(device)
    radius = torch.rand((n, restarts), generator=generator, dtype=dtype).to(device)
    return noise, radius


def _project(p: Tensor, rho: Tensor, norm: str) -> Tensor:
    """Project each row of ``p`` onto its own ``ρ`` ball (only rows outside are changed)."""
    view = (-1,) + (1,) * (p.ndim - 1)
    if norm == "linf":
        r = rho.view(view)
        return torch.maximum(torch.minimum(p, r), -r)
    n = search_norm(p, norm)
    outside = n > rho
    scale = torch.where(outside, rho / n.clamp_min(1e-30), torch.ones_like(n))
    return p * scale.view(view)


def search(
    objective: Objective,
    start: Tensor,
    *,
    rho: float,
    steps: int,
    rel_step: float,
    restarts: int = 1,
    mode: SearchMode = "any",
    norm: SearchNorm = "scaled_l2",
    random_start: bool = True,
    index: Tensor | None = None,
    seed: int = 0,
    stream: str = "paper_a_search",
    generator: torch.Generator | None = None,
    faithful: bool = False,
    bounds: tuple[float, float] | None = None,
    draws: tuple[Tensor, Tensor] | None = None,
) -> SearchResult:
    """Run A.4's search from every row of ``start`` [B, ...]; see the module docstring.

    Args:
        objective: ``(points, rows) -> L``; ``L > 0`` means misclassified. Must be
            per-sample (no coupling between rows), e.g. :func:`misclassification_loss` on a
            model in eval mode.
        rho, steps, rel_step, restarts, mode, norm, random_start: A.4's ρ, T, s, R, mode, norm.
        index, seed, stream: per-sample seeding of the random starts (batching-independent);
            without ``index`` they come from ``generator`` (or the global RNG).
        faithful: reproduce the authors' code exactly (no clipping, no early stop at ρ=0).
        bounds: valid range of ``start + p`` (image space); used only when not ``faithful``.
        draws: precomputed :func:`random_start_draws` (tests, reference comparisons).
    """
    if mode not in ("any", "min"):
        raise ValueError(f"mode must be 'any' or 'min', got {mode!r}")
    if norm not in ("scaled_l2", "l2", "linf"):
        raise ValueError(f"unknown search norm {norm!r}; use 'scaled_l2', 'l2' or 'linf'")
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got steps={steps}, restarts={restarts}")
    start = start.detach()
    b, shape, dev = start.shape[0], tuple(start.shape[1:]), start.device
    view = (-1,) + (1,) * len(shape)
    if random_start:
        if draws is None:
            draws = random_start_draws(
                b,
                shape,
                restarts,
                norm,
                index=index,
                seed=seed,
                stream=stream,
                generator=generator,
                device=dev,
                dtype=start.dtype,
            )
        noise, radius = draws
    clip = bounds if (bounds is not None and not faithful) else None

    rho_cur = torch.full((b,), float(rho), device=dev, dtype=start.dtype)
    p = torch.zeros_like(start)
    best = torch.zeros_like(start)
    best_norm = torch.full((b,), math.inf, device=dev, dtype=start.dtype)
    first_final = torch.zeros_like(start)
    found = torch.zeros(b, dtype=torch.bool, device=dev)
    run = torch.zeros(b, dtype=torch.long, device=dev)  # restart number of the current run
    t = torch.zeros(b, dtype=torch.long, device=dev)  # steps taken in the current run
    finished = torch.zeros(b, dtype=torch.bool, device=dev)
    grad_evals = torch.zeros(b, dtype=torch.long, device=dev)

    def end_runs(rows: Tensor, success: Tensor) -> None:
        """Book-keeping when the runs of ``rows`` end (``success``: they reached L > 0)."""
        pr = p[rows]
        first = run[rows] == 0
        first_final[rows[first]] = pr[first]
        if success.any():
            srows, sp = rows[success], pr[success]
            sn = search_norm(sp, norm)
            if mode == "any":
                best[srows], best_norm[srows] = sp, sn
                found[srows] = True
                finished[srows] = True
            else:
                # faithful: the authors' strict '<'. Default: a run that ends on the ρ_cur sphere
                # ties with the best norm up to rounding, and which of the two equally small points
                # is kept would then depend on batch-size-dependent rounding; demand a real gain.
                bound = best_norm[srows] if faithful else best_norm[srows] * (1 - TIE_RTOL)
                better = sn < bound
                brow = srows[better]
                best[brow], best_norm[brow], rho_cur[brow] = sp[better], sn[better], sn[better]
                found[srows] = True
                if not faithful:
                    finished[brow[sn[better] <= 0]] = True
        run[rows] += 1
        t[rows] = 0
        finished[rows[run[rows] >= restarts]] = True

    while True:
        active = (~finished).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        # rows that begin a run now draw their start (scaled by their current radius)
        fresh = active[t[active] == 0]
        if fresh.numel():
            if random_start:
                r = run[fresh]
                u = noise[fresh, r]
                rad = radius[fresh, r] * rho_cur[fresh]
                if norm == "linf":
                    p[fresh] = (2 * u - 1) * rad.view(view)
                else:
                    p[fresh] = u / search_norm(u, norm).clamp_min(1e-30).view(view) * rad.view(view)
            else:
                p[fresh] = 0
            if clip is not None:
                p[fresh] = (start[fresh] + p[fresh]).clamp(*clip) - start[fresh]
        points = (start[active] + p[active]).requires_grad_(True)
        with torch.enable_grad():
            loss = objective(points, active)
            (grad,) = torch.autograd.grad(loss.sum(), points)
        loss, grad = loss.detach(), grad.detach()
        grad_evals[active] += 1
        success = loss > 0
        if norm == "linf":
            direction = grad.sign()
            zero = grad.flatten(1).abs().amax(dim=1) == 0
        else:
            gn = search_norm(grad, norm)
            zero = gn == 0
            direction = grad / gn.clamp_min(1e-30).view(view)
        stepping = ~success & ~zero
        srows = active[stepping]
        if srows.numel():
            step = rho_cur[srows].view(view) * rel_step * direction[stepping]
            p[srows] = _project(p[srows] + step, rho_cur[srows], norm)
            if clip is not None:
                p[srows] = (start[srows] + p[srows]).clamp(*clip) - start[srows]
            t[srows] += 1
        ending = success | zero
        ending[stepping] = t[srows] >= steps
        if ending.any():
            end_runs(active[ending], success[ending])

    delta = torch.where(found.view(view), best, first_final)
    return SearchResult(delta=delta, found=found, norm=search_norm(delta, norm), grad_evals=grad_evals)
