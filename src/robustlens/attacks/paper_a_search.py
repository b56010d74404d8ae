"""Paper A's projected-gradient search ("PGDAdversary", A.4; `docs/latent-search.md`), batched over samples.

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

from robustlens.utils.progress import report_progress
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

    One iteration of the loop below is one objective+gradient evaluation of every sample that
    is still searching: the samples that begin a run draw their start, all active samples are
    evaluated, the unsuccessful ones step and project, and the runs that ended are booked.

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
    _check_arguments(mode, norm, rho, steps, restarts)
    start = start.detach()
    if random_start and draws is None:
        draws = random_start_draws(
            start.shape[0],
            tuple(start.shape[1:]),
            restarts,
            norm,
            index=index,
            seed=seed,
            stream=stream,
            generator=generator,
            device=start.device,
            dtype=start.dtype,
        )
    rules = _Rules(
        mode=mode,
        norm=norm,
        steps=steps,
        rel_step=rel_step,
        restarts=restarts,
        faithful=faithful,
        clip=bounds if (bounds is not None and not faithful) else None,
    )
    state = _SearchState.initial(start, rho)
    while True:
        active = (~state.finished).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        # the slowest sample's restart and how many still search (shown during an evaluation)
        report_progress("restart", step=int(state.run[active].min()) + 1, total=restarts, remaining=int(active.numel()))
        _begin_runs(state, active[state.t[active] == 0], start, draws if random_start else None, rules)
        loss, grad = _value_and_grad(objective, start, state.p, active)
        state.grad_evals[active] += 1
        success = loss > 0
        direction, zero = _ascent_direction(grad, norm)
        stepping = ~success & ~zero
        srows = active[stepping]
        if srows.numel():
            _step(state, srows, direction[stepping], start, rules)
        ending = success | zero
        ending[stepping] = state.t[srows] >= steps
        if ending.any():
            _end_runs(state, active[ending], success[ending], rules)
    return state.result(norm)


def _check_arguments(mode: str, norm: str, rho: float, steps: int, restarts: int) -> None:
    if mode not in ("any", "min"):
        raise ValueError(f"mode must be 'any' or 'min', got {mode!r}")
    if norm not in ("scaled_l2", "l2", "linf"):
        raise ValueError(f"unknown search norm {norm!r}; use 'scaled_l2', 'l2' or 'linf'")
    if not (math.isfinite(rho) and rho >= 0):
        raise ValueError(f"rho must be a finite number >= 0, got {rho!r}")
    if steps < 1 or restarts < 1:
        raise ValueError(f"steps and restarts must be >= 1, got steps={steps}, restarts={restarts}")


@dataclass(frozen=True)
class _Rules:
    """The search's settings that every step needs (A.4's T, s, R, mode, norm; faithful; clip range)."""

    mode: str
    norm: str
    steps: int
    rel_step: float
    restarts: int
    faithful: bool
    clip: tuple[float, float] | None


@dataclass
class _SearchState:
    """Every sample's own book-keeping; all tensors have one row per sample of the batch.

    ``p`` is the current run's perturbation, ``best``/``best_norm`` the smallest successful one
    so far, ``first_final`` the first run's last point (returned when nothing is found),
    ``run``/``t`` the restart and step numbers of the current run, ``rho_cur`` the radius
    ('min' shrinks it to the best norm), ``finished`` whether the sample stopped searching.
    """

    rho_cur: Tensor
    p: Tensor
    best: Tensor
    best_norm: Tensor
    first_final: Tensor
    found: Tensor
    run: Tensor
    t: Tensor
    finished: Tensor
    grad_evals: Tensor

    @classmethod
    def initial(cls, start: Tensor, rho: float) -> _SearchState:
        b, dev = start.shape[0], start.device

        def flags() -> Tensor:
            return torch.zeros(b, dtype=torch.bool, device=dev)

        def counts() -> Tensor:
            return torch.zeros(b, dtype=torch.long, device=dev)

        return cls(
            rho_cur=torch.full((b,), float(rho), device=dev, dtype=start.dtype),
            p=torch.zeros_like(start),
            best=torch.zeros_like(start),
            best_norm=torch.full((b,), math.inf, device=dev, dtype=start.dtype),
            first_final=torch.zeros_like(start),
            found=flags(),
            run=counts(),
            t=counts(),
            finished=flags(),
            grad_evals=counts(),
        )

    def result(self, norm: str) -> SearchResult:
        """The best successful perturbation, else the first run's final one."""
        delta = torch.where(self.found.view(_rows_view(self.p)), self.best, self.first_final)
        return SearchResult(
            delta=delta, found=self.found, norm=search_norm(delta, norm), grad_evals=self.grad_evals
        )


def _rows_view(x: Tensor) -> tuple[int, ...]:
    """The shape that broadcasts a per-row vector over a tensor shaped like ``x``."""
    return (-1,) + (1,) * (x.ndim - 1)


def _clip_rows(state: _SearchState, rows: Tensor, start: Tensor, rules: _Rules) -> None:
    """Keep ``start + p`` of ``rows`` inside the valid range (non-faithful image-space search)."""
    if rules.clip is not None:
        state.p[rows] = (start[rows] + state.p[rows]).clamp(*rules.clip) - start[rows]


def _begin_runs(
    state: _SearchState,
    fresh: Tensor,
    start: Tensor,
    draws: tuple[Tensor, Tensor] | None,
    rules: _Rules,
) -> None:
    """Rows that begin a run draw their start, scaled by their current radius (0 without draws)."""
    if not fresh.numel():
        return
    view = _rows_view(start)
    if draws is not None:
        noise, radius = draws
        r = state.run[fresh]
        u = noise[fresh, r]
        rad = radius[fresh, r] * state.rho_cur[fresh]
        if rules.norm == "linf":
            state.p[fresh] = (2 * u - 1) * rad.view(view)
        else:
            state.p[fresh] = u / search_norm(u, rules.norm).clamp_min(1e-30).view(view) * rad.view(view)
    else:
        state.p[fresh] = 0
    _clip_rows(state, fresh, start, rules)


def _value_and_grad(objective: Objective, start: Tensor, p: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
    """The objective and its gradient at ``start + p`` of the ``active`` rows (one batched pass)."""
    points = (start[active] + p[active]).requires_grad_(True)
    with torch.enable_grad():
        loss = objective(points, active)
        (grad,) = torch.autograd.grad(loss.sum(), points)
    return loss.detach(), grad.detach()


def _ascent_direction(grad: Tensor, norm: str) -> tuple[Tensor, Tensor]:
    """The unit step direction in the search norm, and which rows have a zero gradient."""
    if norm == "linf":
        return grad.sign(), grad.flatten(1).abs().amax(dim=1) == 0
    gn = search_norm(grad, norm)
    return grad / gn.clamp_min(1e-30).view(_rows_view(grad)), gn == 0


def _step(state: _SearchState, rows: Tensor, direction: Tensor, start: Tensor, rules: _Rules) -> None:
    """One step ``ρ_cur · s · direction`` of ``rows``, projected onto their ball (and clipped)."""
    step = state.rho_cur[rows].view(_rows_view(direction)) * rules.rel_step * direction
    state.p[rows] = _project(state.p[rows] + step, state.rho_cur[rows], rules.norm)
    _clip_rows(state, rows, start, rules)
    state.t[rows] += 1


def _end_runs(state: _SearchState, rows: Tensor, success: Tensor, rules: _Rules) -> None:
    """Book-keeping when the runs of ``rows`` end (``success``: they reached L > 0)."""
    pr = state.p[rows]
    first = state.run[rows] == 0
    state.first_final[rows[first]] = pr[first]
    if success.any():
        srows, sp = rows[success], pr[success]
        sn = search_norm(sp, rules.norm)
        if rules.mode == "any":
            state.best[srows], state.best_norm[srows] = sp, sn
            state.found[srows] = True
            state.finished[srows] = True
        else:
            _keep_if_smaller(state, srows, sp, sn, rules.faithful)
    state.run[rows] += 1
    state.t[rows] = 0
    state.finished[rows[state.run[rows] >= rules.restarts]] = True


def _keep_if_smaller(state: _SearchState, srows: Tensor, sp: Tensor, sn: Tensor, faithful: bool) -> None:
    """'min': a successful run replaces the best point when smaller, and ρ_cur shrinks to its norm.

    faithful: the authors' strict '<'. Default: a run that ends on the ρ_cur sphere ties with the
    best norm up to rounding, and which of the two equally small points is kept would then depend
    on batch-size-dependent rounding; demand a real gain (``TIE_RTOL``), and stop a sample whose
    radius reached 0 (nothing smaller exists).
    """
    bound = state.best_norm[srows] if faithful else state.best_norm[srows] * (1 - TIE_RTOL)
    better = sn < bound
    brow = srows[better]
    state.best[brow], state.best_norm[brow], state.rho_cur[brow] = sp[better], sn[better], sn[better]
    state.found[srows] = True
    if not faithful:
        state.finished[brow[sn[better] <= 0]] = True
