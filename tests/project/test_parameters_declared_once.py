"""One declaration per parameter: a constructor's signature is the only place its bounds are written.

Every attack, perturbation, probe, metric and datamodule that a config in ``conf/`` or ``experiments/`` builds is
constructed with one out-of-range value per constrained parameter; the refusal must name the parameter
and the bound, whether the object is built in Python or from the command line, in the same words
(``robustlens.utils.parameters``). A bound written only in a hand-made check, or one dropped from a
signature, fails here.
"""

from __future__ import annotations

import inspect
import math
import subprocess
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf
from pydantic.fields import FieldInfo

from robustlens.attacks.base import Attack
from robustlens.data.base import ImageDataModule
from robustlens.evaluation.probe import Probe
from robustlens.metrics.base import ProbeMetric
from robustlens.utils.parameters import ParameterError
from robustlens.utils.signatures import constructor_signature

ROOT = Path(__file__).resolve().parents[2]
KINDS = (Attack, Probe, ProbeMetric, ImageDataModule)


def _plain(value: Any) -> bool:
    """A value a test can pass as it is: no object, interpolation or missing value."""
    if isinstance(value, list):
        return all(_plain(v) and not isinstance(v, list) for v in value)
    return not isinstance(value, dict) and not (isinstance(value, str) and ("${" in value or value == "???"))


def _targets(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(target, plain keys)`` of every ``_target_`` node below ``node`` (a config as plain containers)."""
    if isinstance(node, dict):
        if "_target_" in node:
            yield str(node["_target_"]), {
                str(k): v for k, v in node.items()
                if _plain(v)
            }
        for value in node.values():
            yield from _targets(value)
    elif isinstance(node, list):
        for item in node:
            yield from _targets(item)


def configured_classes() -> dict[type, dict[str, Any]]:
    """Every attack/probe/metric class a config file builds, with the plain values of one config."""
    found: dict[type, dict[str, Any]] = {}
    for file in sorted([*(ROOT / "conf").rglob("*.yaml"), *(ROOT / "experiments").rglob("*.yaml")]):
        try:
            cfg = OmegaConf.to_container(OmegaConf.load(file), resolve=False)
        except Exception:
            continue
        for target, plain in _targets(cfg):
            try:
                cls = get_object(target)
            except Exception:
                continue
            if inspect.isclass(cls) and issubclass(cls, KINDS):
                found.setdefault(cls, plain)
    return found


def _bounds(annotation: Any) -> list[Any]:
    """The pydantic constraints (``Ge``, ``Gt``, ``Le``, ``Lt``, finite) inside an annotation."""
    out: list[Any] = []
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in annotation.__metadata__:
            out.extend(meta.metadata if isinstance(meta, FieldInfo) else [meta])
        out.extend(_bounds(typing.get_args(annotation)[0]))
    elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            out.extend(_bounds(arg))
    return out


def _is_int(annotation: Any) -> bool:
    while typing.get_origin(annotation) in (typing.Annotated, typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    return annotation is int


def out_of_range(annotation: Any) -> Iterator[tuple[Any, str]]:
    """``(bad value, words of the bound)`` for every bound of ``annotation``."""
    step = 1 if _is_int(annotation) else 0.5
    for bound in _bounds(annotation):
        if isinstance(bound, annotated_types.Ge):
            yield bound.ge - step, f"greater than or equal to {bound.ge}"
        elif isinstance(bound, annotated_types.Gt):
            yield bound.gt, f"greater than {bound.gt}"
        elif isinstance(bound, annotated_types.Le):
            yield bound.le + step, f"less than or equal to {bound.le}"
        elif isinstance(bound, annotated_types.Lt):
            yield bound.lt, f"less than {bound.lt}"
        elif getattr(bound, "allow_inf_nan", True) is False:
            yield math.inf, "finite number"


def cases() -> list[Any]:
    rows = []
    for cls, plain in configured_classes().items():
        sig, hints = constructor_signature(cls)
        for name, annotation in hints.items():
            if name not in sig.parameters:
                continue
            for bad, words in out_of_range(annotation):
                rows.append(pytest.param(cls, plain, name, bad, words, id=f"{cls.__name__}.{name}={bad}"))
    return rows


CASES = cases()


def build(cls: type, plain: dict[str, Any], name: str, value: Any) -> Any:
    """``cls`` built in Python from one config's plain values, with ``name`` set to ``value``."""
    sig, _ = constructor_signature(cls)
    kwargs = {k: v for k, v in plain.items() if k in sig.parameters}
    for param in sig.parameters.values():  # a required argument the config interpolates: any value
        if param.default is inspect.Parameter.empty and param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            kwargs.setdefault(param.name, None)
    return cls(**{**kwargs, name: value})


def test_every_configured_kind_is_found():
    classes = {cls.__name__ for cls in configured_classes()}
    assert {"PGD", "FMN", "APGDT", "Rotation", "GaussianNoise", "AttackProbe", "LatentAdversarialProbe",
            "LatentNoiseProbe", "Accuracy", "LatentStructure"} <= classes
    assert len(CASES) > 40


@pytest.mark.parametrize(("cls", "plain", "name", "bad", "words"), CASES)
def test_out_of_range_is_refused_naming_parameter_and_bound(cls, plain, name, bad, words):
    with pytest.raises(ParameterError) as info:
        build(cls, plain, name, bad)
    message = str(info.value)
    assert f"{name} = {bad!r}: " in message and words in message, message


# bounds that must stay declared (a bound dropped from a signature is not found by the walk above)
DECLARED = [
    ("robustlens.attacks.pgd.PGD", {"step_size": 0.1, "steps": 1}, "eps", -1, "greater than or equal to 0"),
    ("robustlens.attacks.pgd.PGD", {"eps": 0.1, "steps": 1}, "step_size", 0, "greater than 0"),
    ("robustlens.attacks.pgd.PGD", {"eps": 0.1, "step_size": 0.1}, "steps", -1, "greater than or equal to 0"),
    ("robustlens.attacks.pgd.PGD", {"eps": 0.1, "step_size": 0.1, "steps": 1}, "restarts", 0,
     "greater than or equal to 1"),
    ("robustlens.attacks.fmn.FMN", {}, "gamma_init", 1.5, "less than 1"),
    ("robustlens.attacks.autoattack.APGDT", {"eps": 0.1}, "target_classes", 0, "greater than or equal to 1"),
    ("robustlens.attacks.autoattack.APGDT", {"eps": 0.1}, "steps", 0, "greater than or equal to 1"),
    ("robustlens.attacks.natural.Rotation", {"max_degrees": 10}, "num", 0, "greater than or equal to 1"),
    ("robustlens.attacks.noise.GaussianNoise", {}, "sigma", -0.5, "greater than or equal to 0"),
    ("robustlens.evaluation.latent_probes.LatentAdversarialProbe", {}, "rho", 0, "greater than 0"),
    ("robustlens.evaluation.latent_probes.LatentAdversarialProbe", {}, "rho", math.inf, "finite number"),
    ("robustlens.evaluation.latent_probes.LatentNoiseProbe", {}, "draws", 0, "greater than or equal to 1"),
    ("robustlens.metrics.accuracy.Accuracy", {}, "num_classes", 1, "greater than or equal to 2"),
    ("robustlens.data.digits.DigitsDataModule", {}, "batch_size", 0, "greater than 0"),
    ("robustlens.data.digits.DigitsDataModule", {}, "val_fraction", 1.0, "less than 1"),
    ("robustlens.data.mnist.MNISTDataModule", {}, "test_subset", 0, "greater than 0"),
]


@pytest.mark.parametrize(("target", "given", "name", "bad", "words"), DECLARED,
                         ids=[f"{t.rsplit('.', 1)[1]}.{n}={b}" for t, _, n, b, _ in DECLARED])
def test_bounds_stay_declared_in_the_signature(target, given, name, bad, words):
    with pytest.raises(ParameterError) as info:
        get_object(target)(**given, **{name: bad})
    assert f"{name} = {bad!r}: " in str(info.value) and words in str(info.value)


def test_python_and_config_say_the_same():
    """The config check and a constructor share the function and so the words."""
    from robustlens.config.validate import ConfigValidationError, validate_config

    cfg = OmegaConf.create({"attack": {"_target_": "robustlens.attacks.pgd.PGD", "eps": -1, "step_size": 0.1,
                                       "steps": 1}})
    with pytest.raises(ConfigValidationError) as from_config:
        validate_config(cfg)
    with pytest.raises(ParameterError) as from_python:
        get_object("robustlens.attacks.pgd.PGD")(eps=-1, step_size=0.1, steps=1)
    words = "eps = -1: Input should be greater than or equal to 0"
    assert words in str(from_config.value) and words in str(from_python.value)


def test_cli_names_parameter_and_bound(tmp_path):
    """The command line reports the same words as Python (above), without a traceback."""
    words = "restarts = 0: Input should be greater than or equal to 1"
    run = subprocess.run(
        [sys.executable, "-m", "robustlens", "evaluate", "evaluation.probes.pgd_linf.attack.restarts=0",
         f"hydra.run.dir={tmp_path}"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert run.returncode != 0
    assert words in run.stderr + run.stdout, run.stderr[-2000:]
    assert "Traceback" not in run.stderr


def test_every_configured_metric_describes_itself_from_its_signature():
    """results.json records a metric's parameters from the same signature that checks them."""
    from robustlens.utils.signatures import parameter_names

    metrics = {cls: plain for cls, plain in configured_classes().items() if issubclass(cls, ProbeMetric)}
    assert len(metrics) >= 8
    for cls, plain in metrics.items():
        names = parameter_names(cls)
        kwargs = {k: v for k, v in plain.items() if k in names and k != "_target_"}
        if "num_classes" in names:
            kwargs["num_classes"] = 3
        described = cls(**kwargs).describe()
        assert described["type"] == cls.__name__
        assert set(names) <= set(described), (cls.__name__, names, described)
        assert all(described[k] == v for k, v in kwargs.items()), (cls.__name__, kwargs, described)
