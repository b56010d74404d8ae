"""Natural perturbations (rotation, translation, scaling, brightness, contrast), worst case
over a parameter grid or over random parameter draws.

Every class is a :class:`~robustlens.attacks.base.Perturbation` (not an attack: it never uses
gradients and never enters the worst case over attacks): it tries
``num`` parameter values per sample (``mode='grid'``: a fixed grid; ``mode='random'``: values
drawn uniformly from the range, per sample, keyed by the dataset ``index``) and returns, per
sample, the **first** value that makes the classifier wrong. Grid order runs from the mildest
value outwards (by distance from the identity parameter, negative side first on ties), so the
chosen value is the smallest misclassifying one on the grid. When no value misclassifies, the
value with the **lowest margin** (true-class logit minus the best other logit) is returned:
the sample's hardest case. ``extra["param"]`` holds the chosen value (``[B]``, or ``[B, 2]``
for translation's ``(dx, dy)``); ``iterations`` counts the model evaluations (``num`` or
``num²`` for a translation grid).

Geometric transforms resample with bilinear interpolation and fill with 0 outside the image.
"""

from __future__ import annotations

import abc
import math
from typing import Annotated, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from robustlens.attacks.base import Perturbation, predict
from robustlens.utils.seeding import SampleRandom, sample_keys

Mode = Literal["grid", "random"]


def _sample_grid(x: Tensor, sx: Tensor, sy: Tensor) -> Tensor:
    """Bilinear samples of ``x`` at source pixel coordinates ``sx, sy`` ([B,H,W]); zero outside."""
    h, w = x.shape[-2:]
    grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1).to(x)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _pixel_grid(x: Tensor) -> tuple[Tensor, Tensor, float, float]:
    h, w = x.shape[-2:]
    yy, xx = torch.meshgrid(
        torch.arange(h, dtype=torch.float64, device=x.device),
        torch.arange(w, dtype=torch.float64, device=x.device),
        indexing="ij",
    )
    return xx, yy, (w - 1) / 2, (h - 1) / 2


def rotate(x: Tensor, degrees: Tensor) -> Tensor:
    """Rotate each image counter-clockwise by ``degrees[b]`` about its centre."""
    xx, yy, cx, cy = _pixel_grid(x)
    a = torch.deg2rad(degrees.to(torch.float64))[:, None, None]
    cos, sin = torch.cos(a), torch.sin(a)
    dx, dy = xx - cx, yy - cy
    sx = cx + cos * dx - sin * dy
    sy = cy + sin * dx + cos * dy
    return _sample_grid(x, sx, sy)


def translate(x: Tensor, shift: Tensor) -> Tensor:
    """Move each image by ``shift[b] = (dx, dy)`` pixels (right, down); zero fill."""
    xx, yy, _, _ = _pixel_grid(x)
    s = shift.to(torch.float64)
    return _sample_grid(x, xx[None] - s[:, 0, None, None], yy[None] - s[:, 1, None, None])


def scale(x: Tensor, factor: Tensor) -> Tensor:
    """Zoom each image about its centre by ``factor[b]`` (>1 enlarges); zero fill."""
    xx, yy, cx, cy = _pixel_grid(x)
    f = factor.to(torch.float64)[:, None, None]
    return _sample_grid(x, cx + (xx - cx) / f, cy + (yy - cy) / f)


def adjust_brightness(x: Tensor, delta: Tensor) -> Tensor:
    """Add ``delta[b]`` to every pixel, clipped to [0,1]."""
    return (x + delta.to(x)[:, None, None, None]).clamp(0, 1)


def adjust_contrast(x: Tensor, factor: Tensor) -> Tensor:
    """Blend with the mean grey level (torchvision's ``adjust_contrast``), clipped to [0,1]."""
    if x.shape[1] == 3:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)[None, :, None, None]
        mean = (x * w).sum(dim=1, keepdim=True).mean(dim=(1, 2, 3), keepdim=True)
    else:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
    f = factor.to(x)[:, None, None, None]
    return (f * x + (1 - f) * mean).clamp(0, 1)


class NaturalPerturbation(Perturbation, abc.ABC):
    """Worst case of a parametrised transform over ``num`` values per sample (module docstring).

    Subclasses declare their range parameters (``max_degrees``, ...), call :meth:`searches` with
    the range, and set :attr:`transform`; the search parameters are declared once, here.

    Args:
        mode: ``'grid'`` (fixed grid, mildest first) or ``'random'`` (per-sample draws).
        num: values tried per sample (default: the subclass's ``default_num``).
        seed: seed of the per-sample draws (``mode='random'``).
        batch_size: largest number of transformed images sent to the model at once.
    """

    #: parameters per value (2 for translation)
    param_dim: ClassVar[int] = 1
    #: the parameter value that leaves an image unchanged (the grid is searched mildest first)
    identity: ClassVar[float] = 0.0
    #: values tried per sample when ``num`` is not given
    default_num: ClassVar[int] = 21

    def __init__(
        self,
        mode: Mode = "grid",
        num: Annotated[int, Field(ge=1)] | None = None,
        seed: int = 0,
        batch_size: Annotated[int, Field(ge=1)] = 1024,
    ):
        super().__init__(norm="none")
        self.mode, self.num, self.seed = mode, int(num or self.default_num), seed
        self.batch_size = batch_size
        self.low = self.high = self.identity

    @abc.abstractmethod
    def transform(self, x: Tensor, param: Tensor) -> Tensor:
        """Apply the transform with one parameter value per sample (``[B]`` or ``[B, 2]``);
        a subclass sets it to its function (``transform = staticmethod(rotate)``)."""

    def searches(self, low: float, high: float) -> None:
        """Set the range of parameter values searched (a subclass's own parameters give it)."""
        if not low <= high:
            raise ValueError(f"the range is empty: low={low} > high={high}")
        self.low, self.high = float(low), float(high)

    def grid(self) -> Tensor:
        """The grid values ``[V]`` (or ``[V, 2]``), mildest first."""
        axis = torch.linspace(self.low, self.high, self.num, dtype=torch.float64)
        order = sorted(range(len(axis)), key=lambda i: (abs(float(axis[i]) - self.identity), float(axis[i])))
        axis = axis[order]
        if self.param_dim == 1:
            return axis
        pairs = torch.cartesian_prod(axis, axis)
        order = sorted(range(len(pairs)), key=lambda i: (float((pairs[i] - self.identity).norm()), i))
        return pairs[order]

    def candidates(self, x: Tensor, index: Tensor | None) -> Tensor:
        """Parameter values per sample, ``[B, V]`` or ``[B, V, 2]``."""
        b = x.shape[0]
        if self.mode == "grid":
            g = self.grid()
            return g.expand(b, *g.shape)
        rnd = SampleRandom(sample_keys(index, b), self.seed, type(self).__name__)
        shape = (self.num,) if self.param_dim == 1 else (self.num, self.param_dim)
        return rnd.uniform("params", shape, self.low, self.high).double()

    def _perturb(
        self, model: nn.Module, x: Tensor, y: Tensor, target: Tensor | None, index: Tensor | None
    ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        b = x.shape[0]
        params = self.candidates(x, index).to(x.device)
        rows = torch.arange(b, device=x.device)
        found = torch.zeros(b, dtype=torch.bool, device=x.device)
        chosen = torch.zeros(b, dtype=torch.long, device=x.device)
        best_margin = torch.full((b,), math.inf, device=x.device)
        for j in range(params.shape[1]):
            logits = predict(model, self.transform(x, params[:, j]), self.batch_size)
            true = logits[rows, y]
            other = logits.clone()
            other[rows, y] = -math.inf
            margin = (true - other.amax(dim=1)).float()
            wrong = logits.argmax(dim=1).ne(y)
            newly = wrong & ~found
            better = ~found & ~wrong & (margin < best_margin)
            chosen = torch.where(newly | better, torch.full_like(chosen, j), chosen)
            best_margin = torch.where(better, margin, best_margin)
            found |= wrong
        param = params[rows, chosen]
        iterations = torch.full((b,), params.shape[1], dtype=torch.long, device=x.device)
        return self.transform(x, param), iterations, {"param": param.float(), "found": found}


class Rotation(NaturalPerturbation):
    """Rotation by an angle in ``[-max_degrees, max_degrees]`` (counter-clockwise positive).

    Paper: Engstrom, Tran, Tsipras, Schmidt & Madry, *Exploring the Landscape of Spatial
    Robustness*, ICML 2019 (worst case over a grid of transforms).

    Threat model: not an attack (no gradients): the worst of ``num`` rotations per sample.

    Success: a fresh forward pass on the returned image (the first misclassifying value,
    else the hardest one) predicts a class other than ``y``.

    Args:
        max_degrees: largest rotation, in degrees.
        mode, num, seed, batch_size: the search (:class:`NaturalPerturbation`).
    """

    name = "rotation"
    default_num = 31
    transform = staticmethod(rotate)

    def __init__(self, max_degrees: Annotated[float, Field(ge=0)], **search: Any):
        super().__init__(**search)
        self.max_degrees = float(max_degrees)
        self.searches(-self.max_degrees, self.max_degrees)


class Translation(NaturalPerturbation):
    """Shift by ``(dx, dy)`` with each in ``[-max_pixels, max_pixels]``.

    Paper: Engstrom, Tran, Tsipras, Schmidt & Madry, *Exploring the Landscape of Spatial
    Robustness*, ICML 2019 (worst case over a grid of transforms).

    Threat model: not an attack (no gradients): the worst of the ``num²`` grid shifts (or ``num``
    random ones) per sample, zero fill.

    Success: a fresh forward pass on the returned image (the first misclassifying value,
    else the hardest one) predicts a class other than ``y``.

    Args:
        max_pixels: largest shift per axis, in pixels.
        mode, num, seed, batch_size: the search (:class:`NaturalPerturbation`); ``num`` values per
            axis (the grid has ``num²`` points; ``num = 2*max_pixels + 1`` gives every integer shift).
    """

    name = "translation"
    param_dim = 2
    default_num = 7
    transform = staticmethod(translate)

    def __init__(self, max_pixels: Annotated[float, Field(ge=0)], **search: Any):
        super().__init__(**search)
        self.max_pixels = float(max_pixels)
        self.searches(-self.max_pixels, self.max_pixels)


class Scaling(NaturalPerturbation):
    """Zoom about the centre by a factor in ``[min_scale, max_scale]``.

    Paper: Engstrom, Tran, Tsipras, Schmidt & Madry, *Exploring the Landscape of Spatial
    Robustness*, ICML 2019 (the same worst-of-grid search).

    Threat model: not an attack (no gradients): the worst of ``num`` zoom factors per sample.

    Success: a fresh forward pass on the returned image (the first misclassifying value,
    else the hardest one) predicts a class other than ``y``.

    Args:
        min_scale: smallest factor (> 0; < 1 shrinks).
        max_scale: largest factor.
        mode, num, seed, batch_size: the search (:class:`NaturalPerturbation`).
    """

    name = "scaling"
    identity = 1.0
    transform = staticmethod(scale)

    def __init__(self, min_scale: Annotated[float, Field(gt=0)], max_scale: Annotated[float, Field(gt=0)],
                 **search: Any):
        super().__init__(**search)
        self.min_scale, self.max_scale = float(min_scale), float(max_scale)
        self.searches(self.min_scale, self.max_scale)


class Brightness(NaturalPerturbation):
    """Add a constant in ``[-max_delta, max_delta]`` to every pixel (clipped to [0,1]).

    Paper: none of its own (a standard photometric transform), searched worst-of-grid as in
    Engstrom et al., ICML 2019.

    Threat model: not an attack (no gradients): the worst of ``num`` brightness shifts per sample.

    Success: a fresh forward pass on the returned image (the first misclassifying value,
    else the hardest one) predicts a class other than ``y``.

    Args:
        max_delta: largest shift, in [0,1] intensity units.
        mode, num, seed, batch_size: the search (:class:`NaturalPerturbation`).
    """

    name = "brightness"
    transform = staticmethod(adjust_brightness)

    def __init__(self, max_delta: Annotated[float, Field(ge=0)], **search: Any):
        super().__init__(**search)
        self.max_delta = float(max_delta)
        self.searches(-self.max_delta, self.max_delta)


class Contrast(NaturalPerturbation):
    """Scale contrast around the mean grey level by a factor in ``[min_factor, max_factor]``.

    Paper: none of its own (a standard photometric transform), searched worst-of-grid as in
    Engstrom et al., ICML 2019.

    Threat model: not an attack (no gradients): the worst of ``num`` contrast factors per sample.

    Success: a fresh forward pass on the returned image (the first misclassifying value,
    else the hardest one) predicts a class other than ``y``.

    Args:
        min_factor: smallest factor (0: a flat grey image).
        max_factor: largest factor.
        mode, num, seed, batch_size: the search (:class:`NaturalPerturbation`).
    """

    name = "contrast"
    identity = 1.0
    transform = staticmethod(adjust_contrast)

    def __init__(self, min_factor: Annotated[float, Field(ge=0)], max_factor: Annotated[float, Field(ge=0)],
                 **search: Any):
        super().__init__(**search)
        self.min_factor, self.max_factor = float(min_factor), float(max_factor)
        self.searches(self.min_factor, self.max_factor)
