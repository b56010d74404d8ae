"""``evaluation.compile``: the classifier's forward pass under ``torch.compile`` (opt-in).

Why: on small networks (Paper A's MNIST models, the quickstart's SmallCNN) an attack step on a GPU
costs kernel launches, not arithmetic. ``torch.compile`` fuses the forward (and, through
AOTAutograd, the backward) into few kernels; ``mode="reduce-overhead"`` also replays them as one
CUDA graph, which removes the launches altogether. It pays only where the attack's steps have a
fixed shape (every new batch shape is compiled, or recorded as a graph, once) and the model is
called many times: the compile itself takes seconds to minutes (``benchmarks/bench_gpu.py``
times it separately from the steady state).

The modes (``torch.compile``'s own):

* ``none``: no compilation (the default);
* ``default``: Inductor kernels, no CUDA graphs (works on the CPU too, with a C++ compiler);
* ``reduce-overhead``: Inductor kernels replayed as CUDA graphs on a GPU (on the CPU, Inductor
  skips the graphs and this is ``default``);
* ``max-autotune``: also benchmarks kernel variants while compiling (long compiles).

Verdicts are unaffected in kind: the base class still decides success by a fresh forward pass on
the returned inputs, through the same (compiled) classifier; compiled and eager logits agree to
float rounding (``tests/evaluation/test_compiled.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from robustlens.config.errors import ConfigError

#: the values of ``evaluation.compile``
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


class CompileError(ConfigError):
    """``evaluation.compile`` cannot be honoured here; the message names the fix."""


def check_compile_mode(mode: str | None) -> str:
    """``mode`` itself (``None`` → ``"none"``), or :class:`CompileError` listing the valid modes."""
    mode = "none" if mode is None else str(mode)
    if mode not in COMPILE_MODES:
        raise CompileError(f"evaluation.compile={mode!r} is not a compile mode; valid: {', '.join(COMPILE_MODES)}")
    return mode


class CompiledClassifier(nn.Module):
    """``classifier`` with its forward compiled by ``torch.compile(mode=mode)``; parameters shared.

    The wrapper owns the classifier as a submodule (``state_dict``, ``.to(device)``, ``eval()`` and
    the attacks' parameter freezing act on the same tensors), and keeps the compiled callable out
    of the module tree so nothing is registered twice. Compilation happens at the first call, on
    the device the module is then on.

    With CUDA graphs (``reduce-overhead`` on a GPU) a graph's outputs live in memory its next replay
    overwrites; each call therefore starts a new step (``torch.compiler.cudagraph_mark_step_begin``)
    and returns a copy of the logits, so an attack may keep logits across steps.
    """

    def __init__(self, classifier: nn.Module, mode: str, backend: str | Callable[..., Any] = "inductor"):
        super().__init__()
        mode = check_compile_mode(mode)
        if mode == "none":
            raise CompileError("CompiledClassifier needs a compile mode; use compile_classifier() for 'none'")
        self.classifier = classifier
        self.mode = mode
        self.backend = backend
        # torch.compile's modes are Inductor's; another backend (e.g. "aot_eager": graph capture and
        # AOTAutograd without code generation) takes no mode
        compiled = torch.compile(classifier, mode=mode) if backend == "inductor" else torch.compile(
            classifier, backend=backend)
        object.__setattr__(self, "_compiled", compiled)
        # an attack restores ``model.train(model.training)`` when it ends: the wrapper must report the
        # classifier's mode, or an eval-mode classifier would come back in training mode
        self.train(classifier.training)

    def forward(self, x: Tensor) -> Tensor:
        graphs = self.mode == "reduce-overhead" and x.is_cuda and self.backend == "inductor"
        if graphs:
            torch.compiler.cudagraph_mark_step_begin()
        try:
            logits = self._compiled(x)
        except torch._dynamo.exc.BackendCompilerFailed as exc:
            cause = getattr(exc, "inner_exception", None) or exc
            first_line = (str(cause).splitlines() or [""])[0][:200]
            raise CompileError(
                f"evaluation.compile={self.mode} could not compile the classifier on {x.device} "
                f"({type(cause).__name__}: {first_line}); "
                "set evaluation.compile=none (on a CPU, Inductor needs a working C++ compiler)"
            ) from None
        return logits.clone() if graphs else logits

    @property
    def penultimate_layer(self) -> nn.Module | None:
        """The wrapped classifier's feature layer, as a module (its name is relative to the classifier)."""
        layer = getattr(self.classifier, "penultimate_layer", None)
        return self.classifier.get_submodule(layer) if isinstance(layer, str) else layer


def compile_classifier(
    classifier: nn.Module, mode: str | None, backend: str | Callable[..., Any] = "inductor"
) -> nn.Module:
    """``classifier`` unchanged for ``none``, else a :class:`CompiledClassifier`."""
    mode = check_compile_mode(mode)
    return classifier if mode == "none" else CompiledClassifier(classifier, mode, backend)
