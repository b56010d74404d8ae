"""Stop an evaluation at the first NaN/Inf a classifier or generator produces, saying where.

Why: a classifier whose logits are NaN predicts class 0 for everything (``argmax`` of NaNs), and a
generator returning NaN makes every latent metric NaN; both would end as plausible-looking numbers in
``results.json``. A forward hook on the network checks every call — clean inputs, attack iterates,
generated images — and names the probe and the first sample index affected.
"""

from __future__ import annotations

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


def install_finite_check(
    network: nn.Module, role: str, where: Callable[[], tuple[str | None, Tensor | None]], method: str = "forward"
) -> Any:
    """Raise :class:`NonFiniteOutputError` whenever ``network`` returns a non-finite value.

    Args:
        network: the classifier or generator. For ``method="forward"`` a forward hook is registered (its
            handle is returned); for another method (a generator's ``decode``) that method of this instance
            is wrapped.
        role: what it is in the message (``"the classifier"``, ``"the generator"``).
        where: returns ``(probe name, dataset indices of the current batch)`` at call time, so the message
            can name the probe and the first affected sample (indices are used when the call's batch
            has the batch's length; otherwise the position in the call is given).
    """

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        tensor = _first_tensor(output)
        if tensor is None or not tensor.is_floating_point():
            return
        finite = torch.isfinite(tensor.detach())
        if bool(finite.all()):
            return
        rows = (~finite).reshape(len(tensor), -1).any(dim=1) if tensor.ndim else (~finite).reshape(1)
        position = int(torch.nonzero(rows)[0, 0])
        bad = tensor.detach().reshape(len(tensor), -1)[position] if tensor.ndim else tensor.detach().reshape(1)
        kind = "NaN" if bool(torch.isnan(bad).any()) else "Inf"
        probe, index = where()
        if index is not None and len(index) == len(tensor):
            sample = f"first at sample index {int(index[position])}"
        else:
            sample = f"first at position {position} of a call with {len(tensor)} inputs"
        raise NonFiniteOutputError(
            f"probe {probe or '?'}: {role} returned {kind} ({int(rows.sum())} of {len(tensor)} outputs of one "
            f"call; {sample}); check the model weights/normalisation, or the inputs the probe feeds it"
        )

    if method == "forward":
        return network.register_forward_hook(hook)
    original = getattr(network, method)
    if getattr(original, "_robustlens_finite_checked", False):
        return None

    def checked(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        hook(network, args, output)
        return output

    checked._robustlens_finite_checked = True  # type: ignore[attr-defined]
    object.__setattr__(network, method, checked)
    return None
