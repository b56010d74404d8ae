"""Hooks are declared where they live: the evaluation calls them without probing for them.

``Probe``, ``ProbeMetric`` and ``Attack`` declare every optional hook with a default that does
nothing, so ``evaluation/`` never asks ``hasattr(obj, "set_model")`` or ``getattr(obj, "needs_inputs",
False)``: an object that lacks a hook cannot exist, and a misspelt hook is an AttributeError, not a
silently skipped call.
"""

from __future__ import annotations

import ast
from pathlib import Path

import torch

from robustlens.attacks.base import Attack
from robustlens.evaluation.probe import Probe, ProbeContext
from robustlens.metrics.base import ProbeMetric, ProbeOutput

EVALUATION = Path(__file__).resolve().parents[2] / "src" / "robustlens" / "evaluation"
BASES = (Probe, ProbeMetric, Attack)


def hook_names() -> set[str]:
    """Every public method or attribute the three base classes declare themselves."""
    return {name for base in BASES for name in vars(base) if not name.startswith("_")}


def probes_for_hooks(path: Path) -> list[str]:
    """``hasattr``/``getattr`` calls in ``path`` whose attribute is a declared hook."""
    hooks = hook_names()
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("hasattr", "getattr")
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in hooks):
            found.append(f"{path.name}:{node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
    return found


def test_hooks_are_declared_on_the_bases():
    assert {"set_model", "needs_inputs"} <= set(vars(ProbeMetric))
    assert {"set_model", "set_memory_budget", "metrics_need_inputs", "in_worst_case"} <= set(vars(Probe))
    assert {"valid_images", "describe"} <= set(vars(Attack))


def test_evaluation_never_probes_for_a_hook():
    found = [hit for path in sorted(EVALUATION.rglob("*.py")) for hit in probes_for_hooks(path)]
    assert not found, "call the hook, it is declared on the base class: " + "; ".join(found)


def test_the_check_sees_a_probe_for_a_hook(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('if hasattr(metric, "set_model"):\n    metric.set_model(model)\n')
    assert probes_for_hooks(bad) == ["bad.py:1: hasattr(..., 'set_model')"]


class _Nothing(ProbeMetric):
    def update(self, output: ProbeOutput) -> None:
        pass

    def compute(self) -> dict:
        return {}


class _Still(Probe):
    def run(self, model, batch, context: ProbeContext) -> ProbeOutput:
        _, y, index = batch
        return ProbeOutput(index=index, labels=y, preds=y)


def test_default_hooks_do_nothing():
    metric, model = _Nothing(), torch.nn.Linear(2, 2)
    probe = _Still(metrics={"m": metric})
    assert metric.needs_inputs is False and probe.metrics_need_inputs is False
    before = (dict(vars(metric)), dict(vars(probe)))
    probe.set_model(model)
    probe.set_memory_budget(1.0)
    assert (dict(vars(metric)), dict(vars(probe))) == before


class _Recording(_Nothing):
    def set_model(self, model) -> None:
        self.__dict__["seen"] = model


def test_the_evaluation_hands_the_model_to_every_metric_through_its_probe():
    from robustlens.evaluation.module import EvaluationModule

    metric, classifier = _Recording(), torch.nn.Linear(2, 2)
    EvaluationModule(classifier=classifier, probes={"still": _Still(metrics={"m": metric})}, num_classes=2)
    assert metric.__dict__["seen"] is classifier
