"""Stop an evaluation at the first NaN/Inf a classifier or generator produces, saying where.

Why: a classifier whose logits are NaN predicts class 0 for everything (``argmax`` of NaNs), and a
generator returning NaN makes every latent metric NaN; both would end as plausible-looking numbers in
``results.json``. A forward hook on the network checks every call — clean inputs, attack iterates,
generated images — on the device, and the evaluation reads the verdict once per batch
(:meth:`FiniteWatch.check`), naming the probe and the first sample index affected.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


class NonFiniteOutputError(ValueError):
    """A network of the evaluation returned NaN or Inf."""


def _first_tensor(output: Any) -> Tensor | None:
    if isinstance(output, Tensor):
        return output
    if isinstance(output, list | tuple) and output and isinstance(output[0], Tensor):
        return output[0]
    return None


_calls = itertools.count()  # orders the calls of all watches (host-side, no sync)


class FiniteWatch:
    """Watches one network's outputs on the device and raises, when :meth:`check` is called, for the
    first non-finite output since the last check.

    Why on the device: a search calls the network hundreds of times per batch; reading a flag on the
    host after each call (``bool(finite.all())``) would stall a GPU at every step. The hook only
    updates a few device scalars (whether a bad output was seen, and the facts of the first one);
    the evaluation reads them once per batch and stops before anything of that batch is recorded.
    """

    def __init__(self, role: str, where: Callable[[], tuple[str | None, Tensor | None]]):
        self.role, self.where = role, where
        self.seen: Tensor | None = None  # bool: a non-finite output since the last check
        self.facts: Tensor | None = None  # long [6]: call number, position, bad rows, call size, NaN?, sample

    def observe(self, output: Any) -> None:
        tensor = _first_tensor(output)
        if tensor is None or not tensor.is_floating_point() or tensor.numel() == 0:
            return
        flat = tensor.detach().reshape(len(tensor), -1) if tensor.ndim else tensor.detach().reshape(1, 1)
        bad_rows = ~torch.isfinite(flat).all(dim=1)
        position = bad_rows.long().argmax()  # the first bad row (0 when none)
        _, index = self.where()
        sample = index.to(flat.device)[position] if index is not None and len(index) == len(flat) else -1 - position
        nan = torch.isnan(flat.index_select(0, position.view(1))).any()
        facts = torch.stack([position.new_tensor(next(_calls)), position, bad_rows.sum(),
                             position.new_tensor(len(flat)), nan.long(), sample.long()])
        bad = bad_rows.any()
        if self.seen is None or self.facts is None:
            self.seen, self.facts = bad, facts
            return
        self.facts = torch.where(self.seen, self.facts, facts)  # keep the first bad call's facts
        self.seen = self.seen | bad

    def first_bad_call(self) -> tuple[int, list[int]] | None:
        """``(call number, facts)`` of the first non-finite output since the last call (one host
        read), else ``None``; clears the watch."""
        seen, facts = self.seen, self.facts
        self.seen = self.facts = None
        if seen is None or facts is None or not bool(seen):
            return None
        values = facts.tolist()
        return values[0], values[1:]

    def error(self, facts: list[int]) -> NonFiniteOutputError:
        position, bad, size, nan, sample = facts
        probe, _ = self.where()
        at = f"first at sample index {sample}" if sample >= 0 else f"first at position {position} of a call with {size} inputs"
        return NonFiniteOutputError(
            f"probe {probe or '?'}: {self.role} returned {'NaN' if nan else 'Inf'} ({bad} of {size} outputs of one "
            f"call; {at}); check the model weights/normalisation, or the inputs the probe feeds it"
        )


def check_finite(watches: list[FiniteWatch]) -> None:
    """Raise :class:`NonFiniteOutputError` for the earliest non-finite output any of ``watches`` saw
    (a generator's NaN images make the classifier's logits NaN too: the generator is named)."""
    bad = [(first[0], watch, first[1]) for watch in watches if (first := watch.first_bad_call()) is not None]
    if bad:
        _, watch, facts = min(bad, key=lambda item: item[0])
        raise watch.error(facts)


def install_finite_check(
    network: nn.Module, role: str, where: Callable[[], tuple[str | None, Tensor | None]], method: str = "forward"
) -> FiniteWatch:
    """Watch ``network`` for NaN/Inf outputs; the returned :class:`FiniteWatch` raises
    :class:`NonFiniteOutputError` at its :meth:`~FiniteWatch.check` (once per batch).

    Args:
        network: the classifier or generator. For ``method="forward"`` a forward hook is registered;
            for another method (a generator's ``decode``) that method of this instance is wrapped.
        role: what it is in the message (``"the classifier"``, ``"the generator"``).
        where: returns ``(probe name, dataset indices of the current batch)``, so the message can
            name the probe and the first affected sample (indices are used when the call's batch
            has the batch's length; otherwise the position in the call is given).
    """
    watch = FiniteWatch(role, where)
    if method == "forward":
        network.register_forward_hook(lambda _module, _inputs, output: watch.observe(output))
        return watch
    original = getattr(network, method)
    if getattr(original, "_robustlens_finite_checked", None) is not None:
        return original._robustlens_finite_checked

    def checked(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        watch.observe(output)
        return output

    checked._robustlens_finite_checked = watch  # type: ignore[attr-defined]
    object.__setattr__(network, method, checked)
    return watch
