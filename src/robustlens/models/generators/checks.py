"""Input checks shared by the generators: a wrong label would otherwise index silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn


class LabelFacts:
    """Facts about the last label tensor seen (its range check, its grouping by class), computed once.

    Why: checking or grouping labels reads them on the host, and a latent search decodes the same
    labels at every step (the probe passes the same tensor while its working set is unchanged). The
    facts are reused while the very same tensor comes back unmodified (same object, same version
    counter); any other tensor, or one changed in place, is read afresh.
    """

    def __init__(self) -> None:
        self._labels: Tensor | None = None
        self._version: int | None = None
        self._facts: dict[str, Any] = {}

    def of(self, y: Tensor, key: str, compute: Callable[[], Any]) -> Any:
        version = _version(y)
        if version is None:  # an inference tensor has no version counter: never reuse
            return compute()
        if y is not self._labels or version != self._version:
            self._labels, self._version, self._facts = y, version, {}
        if key not in self._facts:
            self._facts[key] = compute()
        return self._facts[key]


def _version(t: Tensor) -> int | None:
    try:
        return int(t._version)
    except RuntimeError:
        return None


#: the labels of the last decode (one per process: a search decodes one label tensor at a time)
LAST_LABELS = LabelFacts()


def check_codes(z: Tensor, y: Tensor, latent_dim: int, num_classes: int) -> None:
    """Refuse codes [B, n] / labels [B] of the wrong shape, and labels outside ``0..num_classes-1``
    (read on the host once per label tensor, :class:`LabelFacts`)."""
    if z.ndim != 2 or z.shape[1] != latent_dim:
        raise ValueError(f"latent codes must have shape [batch, {latent_dim}], got {tuple(z.shape)}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"labels must have shape [{z.shape[0]}] (one per code), got {tuple(y.shape)}")
    if y.numel():
        lo, hi = LAST_LABELS.of(y, f"range/{num_classes}", lambda: (int(y.min()), int(y.max())))
        if lo < 0 or hi >= num_classes:
            raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {lo}..{hi}")


def class_rows(y: Tensor) -> list[tuple[int, Tensor]]:
    """``(class, rows of that class)`` for every class present in ``y`` (read once per label tensor)."""
    return LAST_LABELS.of(
        y, "rows", lambda: [(int(c), (y == c).nonzero().squeeze(1)) for c in torch.unique(y).tolist()]
    )


def check_generator_fits(
    generator: object,
    classifier: nn.Module | None = None,
    num_classes: int | None = None,
    image_shape: tuple[int, ...] | None = None,
) -> None:
    """Refuse a generator that does not fit the data and the classifier, before any search.

    Decodes one code per end class and checks: the generator's class count against the data's,
    the image shape against the data's, the values against [0, 1] (declared ``output_range``
    and actual), and the classifier's logits against the class count. Each error names the
    mismatch and the setting that fixes it.
    """
    import torch

    for attr in ("decode", "latent_dim", "num_classes"):
        if not hasattr(generator, attr):
            raise TypeError(
                f"the generator ({type(generator).__name__}) has no `{attr}`: it must implement robustlens' "
                "Generator contract (docs/generators.md), e.g. through generator=module or generator=torchscript"
            )
    g_classes = int(generator.num_classes)  # type: ignore[attr-defined]
    if num_classes is not None and g_classes != int(num_classes):
        raise ValueError(
            f"class count mismatch: the generator has {g_classes} classes, the data has {num_classes} "
            "(give a per-class collection with one model per data class, or generator.class_map)"
        )
    declared = getattr(generator, "output_range", None)
    if declared is not None and (declared[0] < 0.0 or declared[1] > 1.0):
        raise ValueError(
            f"output range mismatch: the generator declares images in [{declared[0]}, {declared[1]}], "
            "robustlens needs [0, 1] (declare the network's range as generator.output_range, or set generator.clamp=true)"
        )
    device = next((p.device for p in generator.parameters()), torch.device("cpu"))  # type: ignore[attr-defined]
    z = torch.zeros(2 if g_classes > 1 else 1, int(generator.latent_dim), device=device)  # type: ignore[attr-defined]
    y = torch.tensor([0, g_classes - 1][: z.shape[0]], device=device)
    with torch.no_grad():
        images = generator.decode(z, y)  # type: ignore[attr-defined]
        if image_shape is not None and tuple(images.shape[1:]) != tuple(image_shape):
            raise ValueError(
                f"image shape mismatch: the generator makes {_shape(images.shape[1:])} images, the data has "
                f"{_shape(image_shape)} (choose a generator of the data's resolution, or resize the data)"
            )
        lo, hi = images.min().item(), images.max().item()
        if lo < -1e-6 or hi > 1 + 1e-6:
            raise ValueError(
                f"output range mismatch: the generator decoded values in [{lo:.3g}, {hi:.3g}], outside [0, 1] "
                "(declare the network's range as generator.output_range)"
            )
        if classifier is not None:
            try:
                logits = classifier(images)
            except Exception as err:  # the classifier's own shape check, or a layer that does not fit
                raise ValueError(
                    f"the classifier does not take the generator's {_shape(images.shape[1:])} images: {err}"
                ) from err
            if logits.ndim != 2 or logits.shape[1] != g_classes:
                raise ValueError(
                    f"class count mismatch: the classifier outputs {tuple(logits.shape[1:])} logits per image, "
                    f"the generator has {g_classes} classes"
                )


def _shape(shape) -> str:
    return "×".join(str(int(s)) for s in shape)
