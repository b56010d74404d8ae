"""The search loops do not synchronise with the host at every step (issue 22).

On a GPU every host read of a device value (``bool(t)``, ``t.item()``, ``t.tolist()``, ``nonzero``, a
boolean-mask gather, a data-dependent shape) stalls the launch queue until the device catches up.
The CPU has no queue, so the reads are counted instead: the operations that synchronise are wrapped
while an attack or search runs, once with ``N`` and once with ``2N`` steps. The difference is what
``N`` steps of the loop cost (setup, the fp32 verdict and the per-batch checks cancel out), and
must be at most one read per ``check_every`` steps.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from robustlens.attacks import FMN, PGD
from robustlens.attacks.minimal_norm_search import minimal_norm_search
from robustlens.attacks.paper_a_search import search
from robustlens.evaluation.latent_probes import LatentAdversarialProbe
from robustlens.evaluation.probe import ProbeContext
from robustlens.models.generators.base import PerClassGenerator
from robustlens.models.generators.checks import check_codes
from robustlens.utils.finite import install_finite_check

_METHODS = ("__bool__", "item", "tolist", "nonzero", "__int__", "__float__", "__index__", "cpu", "numpy", "unique")


@contextlib.contextmanager
def counted_syncs() -> Iterator[list[str]]:
    """Count the host synchronisations made inside the block (the list grows by one name per read)."""
    seen: list[str] = []
    # what torch.Tensor itself defines (None: inherited from the C base class). Restoring an inherited
    # slot by setattr would leave a Python-level __index__/__getitem__ on Tensor, which changes how
    # torch converts tensors afterwards (torch.LongTensor([t]) then fails): delete it instead
    own = {name: torch.Tensor.__dict__.get(name) for name in _METHODS}
    inherited = {name: getattr(torch.Tensor, name) for name in _METHODS}
    original_getitem, original_nonzero, original_unique = torch.Tensor.__getitem__, torch.nonzero, torch.unique

    unwrapped: dict[Callable, Callable] = {}  # counting wrapper -> the method it counts

    def counting(name: str, method: Callable) -> Callable:
        def wrapper(self, *args, **kwargs):
            seen.append(name)
            return method(self, *args, **kwargs)

        unwrapped[wrapper] = method
        return wrapper

    class BooleanMasks(TorchFunctionMode):
        """Boolean-mask indexing, seen through torch's function mode: patching ``Tensor.__getitem__``
        itself cannot be undone (the type's sequence slots stay changed, and ``torch.LongTensor([t])``
        then takes a 0-d tensor for a sequence)."""

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if func is original_getitem and len(args) > 1:
                keys = args[1] if isinstance(args[1], tuple) else (args[1],)
                if any(isinstance(k, torch.Tensor) and k.dtype == torch.bool for k in keys):
                    seen.append("boolean mask")
            # a counted method reaches the mode too: run the method itself, or it is counted twice
            return unwrapped.get(func, func)(*args, **(kwargs or {}))

    def nonzero(*args, **kwargs):
        seen.append("torch.nonzero")
        return original_nonzero(*args, **kwargs)

    def unique(*args, **kwargs):
        seen.append("torch.unique")
        return original_unique(*args, **kwargs)

    try:
        for name, method in inherited.items():
            setattr(torch.Tensor, name, counting(name, method))
        torch.nonzero, torch.unique = nonzero, unique
        with BooleanMasks():
            yield seen
    finally:
        for name, method in own.items():
            if method is None:
                delattr(torch.Tensor, name)
            else:
                setattr(torch.Tensor, name, method)
        torch.nonzero, torch.unique = original_nonzero, original_unique


def loop_syncs(run: Callable[[int], object], steps: int) -> int:
    """Host reads of ``steps`` more steps: syncs(2·steps) − syncs(steps)."""
    counts = []
    for n in (steps, 2 * steps):
        with counted_syncs() as seen:
            run(n)
        counts.append(len(seen))
    return counts[1] - counts[0]


def _robust_model() -> nn.Module:
    """A linear classifier that no small perturbation fools: every sample searches every step."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():
        model[1].weight.mul_(0.01)
        model[1].bias.copy_(torch.tensor([10.0, 0.0, 0.0]))
    return model.eval()


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.zeros(6, dtype=torch.long)


N = 8


def test_the_counter_sees_a_read_per_step() -> None:
    """The instrument itself: PGD checking after every step reads the host once per step."""
    model, (x, y) = _robust_model(), _batch()
    assert loop_syncs(lambda n: PGD(eps=0.01, step_size=0.005, steps=n, check_every=1)(model, x, y), N) >= N


@pytest.mark.parametrize("k", [4, 8])
def test_pgd_early_stop_reads_once_per_k_steps(k: int) -> None:
    model, (x, y) = _robust_model(), _batch()
    # the NaN/Inf watch of an evaluation is on (it must not read the host per forward either)
    install_finite_check(model, "the classifier", lambda: ("pgd", None))
    extra = loop_syncs(lambda n: PGD(eps=0.01, step_size=0.005, steps=n, check_every=k)(model, x, y), N)
    assert extra <= math.ceil(N / k)


def test_fixed_step_pgd_and_fmn_never_read() -> None:
    model, (x, y) = _robust_model(), _batch()
    assert loop_syncs(lambda n: PGD(eps=0.01, step_size=0.005, steps=n, early_stop=False)(model, x, y), N) == 0
    assert loop_syncs(lambda n: FMN(norm="l2", steps=n)(model, x, y), N) == 0
    assert loop_syncs(lambda n: FMN(norm="linf", steps=n)(model, x, y), N) == 0


def _never_fooled(points: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    return -(points**2).flatten(1).sum(dim=1) - 1.0  # L < 0 everywhere: every sample searches to the end


def test_minimal_norm_search_never_reads() -> None:
    start = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    assert loop_syncs(lambda n: minimal_norm_search(_never_fooled, start, rho_max=1.0, steps=n), N) == 0


@pytest.mark.parametrize("faithful", [True, False])
@pytest.mark.parametrize("k", [1, 4])
def test_paper_a_search_reads_once_per_k_iterations(k: int, faithful: bool) -> None:
    start = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))

    def run(steps: int) -> object:
        return search(_never_fooled, start, rho=1.0, steps=steps, rel_step=0.1, restarts=2, mode="min",
                      generator=torch.Generator().manual_seed(0), check_every=k, faithful=faithful)

    assert loop_syncs(run, N) <= math.ceil(2 * N / k)  # 2 restarts: 2N more iterations


class _CheckedPerClassGenerator(PerClassGenerator):
    """Ten tiny per-class decoders that check their codes as the real generators do."""

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        check_codes(z, y, self.latent_dim, self.num_classes)
        return torch.sigmoid(super().decode(z, y)).view(-1, 1, 4, 4)


@pytest.mark.parametrize(("faithful", "min_search"), [(False, "fmn"), (True, "paper_a"), (False, "paper_a")])
def test_a_latent_search_with_checked_per_class_decodes_reads_once_per_k_iterations(faithful, min_search) -> None:
    """The generator's label checks and class grouping are read once per working set, not per decode."""
    torch.manual_seed(3)
    gen = _CheckedPerClassGenerator([nn.Linear(2, 16) for _ in range(3)], latent_dim=2).eval()
    model = _robust_model()
    y, index = torch.tensor([0, 1, 2, 0, 1, 2]), torch.arange(6)
    batch = (torch.rand(6, 1, 4, 4), y, index)

    def run(steps: int) -> object:
        probe = LatentAdversarialProbe("generation", "min", rho=0.05, steps=steps, restarts=1, min_steps=steps,
                                       faithful=faithful, min_search=min_search, max_images=0)
        return probe.run(model, batch, ProbeContext(seed=0, generator=gen))

    assert loop_syncs(run, N) <= math.ceil(N / 4)  # the search's default check_every is 4


def test_pgd_results_do_not_depend_on_how_often_the_host_checks() -> None:
    """A broken sample is frozen on the device between two checks: same points and step counts for any k."""
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).double().eval()
    x = torch.rand(12, 1, 4, 4, dtype=torch.float64)
    y = model(x).argmax(1)  # all correct at the start; ε = 0.1 breaks 7 of 12 at different steps
    runs = [PGD(eps=0.1, step_size=0.025, steps=12, restarts=2, check_every=k)(model, x, y, index=torch.arange(12))
            for k in (1, 3, 5, 100)]
    assert runs[0].success.any() and not runs[0].success.all()
    for other in runs[1:]:
        torch.testing.assert_close(other.x_adv, runs[0].x_adv, rtol=0, atol=1e-12)
        assert torch.equal(other.iterations, runs[0].iterations)
