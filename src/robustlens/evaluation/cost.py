"""What one probe cost: wall seconds, forward and backward passes per sample through the
classifier and the generator, peak memory, device, precision and batch size.

Why hooks, registered by the evaluation around each probe pass: an attack's own book-keeping
(``AttackResult.iterations``, a search's ``grad_evals``) counts what its author thought of —
not the verification pass of the base class, the clean pass every probe gets, a restart's end
check, or what a reference implementation does inside. Hooks on the two networks count every
call the same way for every attack and search, as adversarial-library counts forward and
backward passes per sample:

* a **forward** of the classifier on a batch of ``b`` inputs counts ``b`` (a forward hook);
  the generator's ``decode`` (a latent probe's only way to the images) is wrapped likewise;
* a **backward** counts ``b`` when the gradient reaches the network's output (a tensor hook
  on the output of a forward that builds a graph), whether it comes from ``backward()`` or
  ``torch.autograd.grad``; a forward under ``no_grad`` never counts a backward;
* per sample = the counts summed over ranks / the samples the probe evaluated (summed over
  ranks): independent of batch size and process count for any attack whose work per sample
  does not depend on the batch.

The counters are plain Python integers read from tensor shapes: counting never synchronises
with the device. Peak memory is the CUDA peak allocated (reset at the probe's start) on a CUDA
device, else the process's peak resident set size (reset at the probe's start where Linux allows
it, ``/proc/self/clear_refs``; otherwise the peak since the process started, and the record
says so). Under DDP counts and samples are summed, seconds, memory and batch size the maximum
over ranks (:class:`CostState`, a torchmetrics metric, so the sync is torchmetrics').
"""

from __future__ import annotations

import contextlib
import resource
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torchmetrics import Metric

if TYPE_CHECKING:
    from robustlens.evaluation.probe import Probe

#: the numbers of a probe's cost, stored as ``<probe>/cost/<field>`` (``docs/metrics.md``)
COST_FIELDS: tuple[str, ...] = (
    "seconds",
    "forward_per_sample",
    "backward_per_sample",
    "generator_forward_per_sample",
    "generator_backward_per_sample",
    "peak_memory_mb",
    "batch_size",
    "samples",
)
#: the fields that are measured, not counted: time and memory differ between two runs of the same job
#: (and between one process and several), so a comparison of two runs' results skips them
MEASURED_FIELDS: tuple[str, ...] = ("seconds", "peak_memory_mb")
#: the prefix of the job's totals (``job/cost/seconds`` ...)
JOB = "job"
#: spellings of a precision, normalised for the cost record
_PRECISION_NAMES = {"float32": "fp32", "fp32": "fp32", "32": "fp32", "bf16": "bf16", "bfloat16": "bf16",
                    "bf16-mixed": "bf16", "float16": "fp16", "fp16": "fp16", "16": "fp16", "16-mixed": "fp16"}


def is_measured(metric_name: str) -> bool:
    """Whether ``metric_name`` (``<probe>/cost/seconds`` ...) is a measured cost, not a computed number."""
    head, _, field_name = metric_name.rpartition("/")
    return head.endswith("/cost") and field_name in MEASURED_FIELDS


def _batch_of(output: Any) -> Tensor | None:
    """The tensor whose first dimension is the batch: the output itself, or its first tensor."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, list | tuple):
        return next((o for o in output if isinstance(o, Tensor)), None)
    if isinstance(output, dict):
        return next((o for o in output.values() if isinstance(o, Tensor)), None)
    return None


@dataclass
class PassCounter:
    """Forward and backward passes of one network, in samples (``b`` per call on ``b`` inputs)."""

    forward: int = 0
    backward: int = 0

    def observe(self, output: Any) -> None:
        """Count one call that returned ``output``; arm a backward count if it built a graph."""
        tensor = _batch_of(output)
        if tensor is None:
            return
        size = int(tensor.shape[0]) if tensor.ndim else 1
        self.forward += size
        if tensor.requires_grad:
            tensor.register_hook(lambda grad, size=size: self._count_backward(size))

    def _count_backward(self, size: int) -> None:
        self.backward += size


@dataclass
class _Installed:
    """What :func:`counting_passes` changed, to undo it."""

    handles: list[Any] = field(default_factory=list)
    wrapped: list[tuple[nn.Module, str, Any]] = field(default_factory=list)


def _wrap_method(network: nn.Module, method: str, counter: PassCounter, installed: _Installed) -> None:
    """Count the calls of ``network.<method>`` (a generator's ``decode``) on this instance only."""
    previous = network.__dict__.get(method, _MISSING)
    original = getattr(network, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        output = original(*args, **kwargs)
        counter.observe(output)
        return output

    for attribute in ("_robustlens_finite_checked",):  # keep the finite check's marker visible
        if hasattr(original, attribute):
            setattr(counted, attribute, getattr(original, attribute))
    object.__setattr__(network, method, counted)
    installed.wrapped.append((network, method, previous))


_MISSING = object()


@contextlib.contextmanager
def counting_passes(
    classifier: nn.Module, generator: nn.Module | None = None
) -> Iterator[tuple[PassCounter, PassCounter]]:
    """Count the classifier's and the generator's passes while the context is open.

    Yields ``(classifier counter, generator counter)``; every hook is removed on exit. The
    classifier is counted by a forward hook (every ``classifier(x)``); the generator by wrapping
    ``decode`` when it has one (robustlens generators), else by a forward hook.
    """
    model_counter, generator_counter = PassCounter(), PassCounter()
    installed = _Installed()
    installed.handles.append(classifier.register_forward_hook(lambda _m, _i, out: model_counter.observe(out)))
    if generator is not None:
        if hasattr(generator, "decode"):
            _wrap_method(generator, "decode", generator_counter, installed)
        else:
            installed.handles.append(
                generator.register_forward_hook(lambda _m, _i, out: generator_counter.observe(out))
            )
    try:
        yield model_counter, generator_counter
    finally:
        for handle in installed.handles:
            handle.remove()
        for network, method, previous in reversed(installed.wrapped):
            if previous is _MISSING:
                del network.__dict__[method]
            else:
                object.__setattr__(network, method, previous)


# ------------------------------------------------------------------------------ peak memory

_CLEAR_REFS = Path("/proc/self/clear_refs")


def reset_peak_memory(device: torch.device) -> str:
    """Start a new peak-memory window; returns what :func:`peak_memory_mb` will then measure."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return "cuda peak allocated"
    try:  # Linux ≥ 4.0: writing 5 resets the peak resident set size (proc(5), clear_refs)
        _CLEAR_REFS.write_text("5")
        return "peak RSS"
    except OSError:
        return "peak RSS since the process started"


_STATUS = Path("/proc/self/status")


def peak_memory_mb(device: torch.device) -> float:
    """The peak of the window :func:`reset_peak_memory` started, in MiB.

    On Linux the peak RSS is ``VmHWM`` of ``/proc/self/status``, which ``clear_refs`` resets;
    ``getrusage``'s ``ru_maxrss`` is not reset when a thread of the process has exited (the
    kernel keeps the peak it had then), so it is only the fallback elsewhere.
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


# ------------------------------------------------------------------------------- the state


class CostState(Metric):
    """A probe pass's cost, summed (counts, samples) or maximised (seconds, memory, batch size)
    over DDP ranks by torchmetrics. Not a :class:`~robustlens.metrics.base.ProbeMetric`: it
    measures the evaluation, not the probe's per-sample facts."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("samples", "forward", "backward", "generator_forward", "generator_backward"):
            self.add_state(name, default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        for name in ("seconds", "peak_memory_mb", "batch_size"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="max")

    def update(  # type: ignore[override]
        self, samples: int, model: PassCounter, generator: PassCounter, seconds: float, peak_mb: float,
        batch_size: int,
    ) -> None:
        """Add one rank's pass (called once per pass, with host numbers: no device sync)."""
        self.samples += samples
        self.forward += model.forward
        self.backward += model.backward
        self.generator_forward += generator.forward
        self.generator_backward += generator.backward
        self.seconds = torch.maximum(self.seconds, torch.tensor(float(seconds), dtype=torch.float64,
                                                                device=self.seconds.device))
        self.peak_memory_mb = torch.maximum(self.peak_memory_mb, torch.tensor(
            float(peak_mb), dtype=torch.float64, device=self.seconds.device))
        self.batch_size = torch.maximum(self.batch_size, torch.tensor(
            float(batch_size), dtype=torch.float64, device=self.seconds.device))

    def compute(self) -> dict[str, float]:
        """The numbers of :data:`COST_FIELDS` (per sample: counts over samples; NaN without samples)."""
        samples = int(self.samples)

        def per_sample(count: Tensor) -> float:
            return int(count) / samples if samples else float("nan")

        return {
            "seconds": float(self.seconds),
            "forward_per_sample": per_sample(self.forward),
            "backward_per_sample": per_sample(self.backward),
            "generator_forward_per_sample": per_sample(self.generator_forward),
            "generator_backward_per_sample": per_sample(self.generator_backward),
            "peak_memory_mb": float(self.peak_memory_mb),
            "batch_size": float(self.batch_size),
            "samples": float(samples),
        }


# ------------------------------------------------------------------------ the probe's record


def precision_of(probe: Probe) -> str:
    """The numeric precision a probe's searches run in (``Probe.search_precision``), by its short name."""
    value = probe.search_precision
    return _PRECISION_NAMES.get(value.lower(), value)


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return str(device)


def cost_metrics(probe_name: str, cost: dict[str, float]) -> dict[str, float]:
    """``{"<probe>/cost/<field>": value}`` for results.json."""
    return {f"{probe_name}/cost/{key}": value for key, value in cost.items()}


def job_cost(metrics: dict[str, Any], probes: list[str]) -> dict[str, float]:
    """The job's totals ``job/cost/<field>`` from its probes' cost keys (reused probes included).

    Seconds and per-sample passes add up over probes (every probe evaluates the same samples, so
    the per-sample counts add); peak memory and batch size are the maxima.
    """

    def values(field_name: str) -> list[float]:
        out = [metrics.get(f"{p}/cost/{field_name}") for p in probes]
        return [float(v) for v in out if isinstance(v, int | float)]

    if not values("seconds"):
        return {}
    totals: dict[str, float] = {}
    for field_name in COST_FIELDS:
        found = values(field_name)
        if not found:
            continue
        combine = max if field_name in ("peak_memory_mb", "batch_size", "samples") else sum
        totals[f"{JOB}/cost/{field_name}"] = float(combine(found))
    return totals


def now() -> float:
    """A monotonic clock for wall seconds."""
    return time.perf_counter()
