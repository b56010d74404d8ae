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
from dataclasses import dataclass, fields
from typing import Literal

import torch
from torch import Tensor

from robustlens.attacks import precision
from robustlens.attacks.geometry import project, rows_view
from robustlens.attacks.geometry import row_norm as search_norm
from robustlens.utils.progress import report_progress, reporting
from robustlens.utils.seeding import per_sample_rand, per_sample_randn, stream_id

SearchNorm = Literal["scaled_l2", "l2", "linf"]
SearchMode = Literal["any", "min"]

#: objective(points [A, ...], rows long[A]) -> L [A]; ``rows`` are the positions of the
#: evaluated points in the original batch (so the objective can look up labels/classes).
Objective = Callable[[Tensor, Tensor], Tensor]

#: relative margin by which a 'min' run must beat the best norm (non-faithful mode)
TIE_RTOL = 1e-5
#: the floor of a norm that divides in the latent searches (see ``geometry``)
TINY = 1e-30

__all__ = ["SearchResult", "misclassification_loss", "random_start_draws", "search", "search_norm"]


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
    check_every: int = 4,
) -> SearchResult:
    """Run A.4's search from every row of ``start`` [B, ...]; see the module docstring.

    One iteration of the loop below is one objective+gradient evaluation of the working set:
    the samples that begin a run draw their start, all are evaluated, the unsuccessful ones
    step and project, and the runs that ended are booked; every update is a fixed-shape
    ``torch.where`` on the device, so a sample that finished is evaluated but changes nothing
    (and is not counted). Every ``check_every`` iterations the host reads which samples still
    search (the loop's only synchronisation) and the working set shrinks to them. A sample's
    result does not depend on ``check_every`` (tested against ``check_every=1``).

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
        check_every: iterations between two host reads of which samples still search.
    """
    _check_arguments(mode, norm, rho, steps, restarts)
    if check_every < 1:
        raise ValueError(f"check_every must be >= 1, got {check_every}")
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
    live = torch.arange(start.shape[0], device=start.device)  # the batch rows of the working set
    work, start_w = state, start
    if reporting():
        report_progress("restart", step=1, total=restarts, remaining=start.shape[0])
    iteration = 0
    while True:
        _iterate(work, live, start_w, draws if random_start else None, objective, rules)
        iteration += 1
        if iteration % check_every:
            continue
        keep = (~work.finished).nonzero().squeeze(1)  # the loop's one host read
        if keep.numel() == 0:
            break
        if keep.numel() < live.numel():
            if work is not state:
                state.store(live, work)
            work, live, start_w = work.take(keep), live[keep], start_w[keep]
        if reporting():  # the slowest sample's restart and how many still search
            report_progress("restart", step=int(work.run.min()) + 1, total=restarts, remaining=int(keep.numel()))
    if work is not state:
        state.store(live, work)
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

    def take(self, rows: Tensor) -> _SearchState:
        """The state of ``rows`` only (a new, smaller working set)."""
        return _SearchState(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def store(self, rows: Tensor, part: _SearchState) -> None:
        """Write the working set ``part`` back into ``rows`` of this state."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(part, f.name)

    def result(self, norm: str) -> SearchResult:
        """The best successful perturbation, else the first run's final one."""
        delta = torch.where(rows_view(self.found, self.p), self.best, self.first_final)
        return SearchResult(
            delta=delta, found=self.found, norm=search_norm(delta, norm), grad_evals=self.grad_evals
        )


def _clip(start: Tensor, p: Tensor, rules: _Rules) -> Tensor:
    """``p`` such that ``start + p`` lies in the valid range (non-faithful image-space search)."""
    return p if rules.clip is None else (start + p).clamp(*rules.clip) - start


def _iterate(
    work: _SearchState,
    live: Tensor,
    start: Tensor,
    draws: tuple[Tensor, Tensor] | None,
    objective: Objective,
    rules: _Rules,
) -> None:
    """One objective+gradient evaluation of the working set ``work`` (batch rows ``live``), every
    update masked to the samples still searching: begin runs, evaluate, step, book ended runs."""
    searching = ~work.finished
    fresh = searching & (work.t == 0)
    work.p = torch.where(rows_view(fresh, work.p), _clip(start, _run_starts(work, live, draws, rules), rules), work.p)
    loss, grad = _value_and_grad(objective, start, work.p, live)
    work.grad_evals = work.grad_evals + searching.long()
    success = loss > 0
    direction, zero = _ascent_direction(grad, rules.norm)
    stepping = searching & ~success & ~zero
    step = rows_view(work.rho_cur, direction) * rules.rel_step * direction
    moved = _clip(start, project(work.p + step, work.rho_cur, rules.norm, tiny=TINY), rules)
    work.p = torch.where(rows_view(stepping, work.p), moved, work.p)
    work.t = work.t + stepping.long()
    ending = searching & (success | zero | (stepping & (work.t >= rules.steps)))
    _end_runs(work, ending, ending & success, rules)


def _run_starts(work: _SearchState, live: Tensor, draws: tuple[Tensor, Tensor] | None, rules: _Rules) -> Tensor:
    """Every row's start for its current run, scaled by its current radius (0 without draws)."""
    if draws is None:
        return torch.zeros_like(work.p)
    noise, radius = draws
    r = work.run.clamp(max=rules.restarts - 1)  # finished rows may be past their last run
    u = noise[live, r]
    rad = rows_view(radius[live, r] * work.rho_cur, u)
    if rules.norm == "linf":
        return (2 * u - 1) * rad
    return u / rows_view(search_norm(u, rules.norm).clamp_min(TINY), u) * rad


def _value_and_grad(objective: Objective, start: Tensor, p: Tensor, rows: Tensor) -> tuple[Tensor, Tensor]:
    """The objective and its gradient at ``start + p`` (one batched pass; ``rows``: batch positions)."""
    points = (start + p).requires_grad_(True)
    with torch.enable_grad():
        loss = objective(points, rows)
        grad = precision.input_gradient(loss.sum(), points)
    return loss.detach().to(p.dtype), grad.detach().to(p.dtype)


def _ascent_direction(grad: Tensor, norm: str) -> tuple[Tensor, Tensor]:
    """The unit step direction in the search norm, and which rows have a zero gradient."""
    if norm == "linf":
        return grad.sign(), grad.flatten(1).abs().amax(dim=1) == 0
    gn = search_norm(grad, norm)
    return grad / rows_view(gn.clamp_min(TINY), grad), gn == 0


def _end_runs(work: _SearchState, ending: Tensor, won: Tensor, rules: _Rules) -> None:
    """Book-keeping of the rows whose run ends (``ending``; ``won``: they reached L > 0)."""
    view = rows_view(ending, work.p)
    work.first_final = torch.where(view & rows_view(work.run == 0, work.p), work.p, work.first_final)
    size = search_norm(work.p, rules.norm)
    if rules.mode == "any":
        kept = won
        work.finished = work.finished | won
    else:
        kept = _smaller(work, won, size, rules.faithful)
        work.rho_cur = torch.where(kept, size, work.rho_cur)
        if not rules.faithful:  # a radius of 0: nothing smaller exists
            work.finished = work.finished | (kept & (size <= 0))
    work.best = torch.where(rows_view(kept, work.p), work.p, work.best)
    work.best_norm = torch.where(kept, size, work.best_norm)
    work.found = work.found | won
    work.run = work.run + ending.long()
    work.t = torch.where(ending, torch.zeros_like(work.t), work.t)
    work.finished = work.finished | (ending & (work.run >= rules.restarts))


def _smaller(work: _SearchState, won: Tensor, size: Tensor, faithful: bool) -> Tensor:
    """'min': which successful runs replace the best point (then ρ_cur shrinks to their norm).

    faithful: the authors' strict '<'. Default: a run that ends on the ρ_cur sphere ties with the
    best norm up to rounding, and which of the two equally small points is kept would then depend
    on batch-size-dependent rounding; demand a real gain (``TIE_RTOL``).
    """
    bound = work.best_norm if faithful else work.best_norm * (1 - TIE_RTOL)
    return won & (size < bound)
