"""A constructor's ``**base`` passed to its parent counts as the parent's named parameters.

The config validator and ``Attack.describe`` read constructor signatures; a datamodule that adds
two arguments and passes the rest on must still have every key checked (typos caught, types
validated) without repeating its parent's signature.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
from omegaconf import OmegaConf
from pydantic import Field

from robustlens.config.validate import ConfigValidationError, validate_config
from robustlens.data.celeba import CelebADataModule
from robustlens.data.cifar100 import CIFAR100DataModule
from robustlens.utils.signatures import constructor_signature, parameter_names


class _Parent:
    def __init__(self, size: Annotated[int, Field(gt=0)] = 1, name: str = "p"):
        self.size, self.name = size, name


class _Child(_Parent):
    def __init__(self, extra: float = 0.5, **base: Any):
        self.extra = extra
        super().__init__(**base)


class _Open:
    def __init__(self, **anything: Any):
        self.anything = anything


class _ChildOfOpen(_Open):
    def __init__(self, own: int = 0, **base: Any):
        super().__init__(**base)


def test_child_signature_lists_its_own_then_the_parents_parameters() -> None:
    sig, hints = constructor_signature(_Child)
    assert list(sig.parameters) == ["extra", "size", "name"]
    assert all(sig.parameters[n].kind is inspect.Parameter.KEYWORD_ONLY for n in ("size", "name"))
    assert sig.parameters["size"].default == 1 and "size" in hints and "base" not in hints


def test_a_parent_that_takes_anything_keeps_the_child_open() -> None:
    sig, _ = constructor_signature(_ChildOfOpen)
    assert list(sig.parameters) == ["own", "anything"]
    assert sig.parameters["anything"].kind is inspect.Parameter.VAR_KEYWORD
    assert parameter_names(_ChildOfOpen) == ["own"]


def test_datamodules_expose_the_base_keys() -> None:
    for cls in (CelebADataModule, CIFAR100DataModule):
        names = parameter_names(cls)
        assert {"batch_size", "test_subset", "num_classes", "data_dir"} <= set(names), cls
    assert {"attribute", "resize", "crop", "channels"} <= set(parameter_names(CelebADataModule))


def _data_node(**keys: Any):
    return OmegaConf.create({"data": {"_target_": "robustlens.data.cifar100.CIFAR100DataModule", **keys}})


def test_validator_checks_inherited_keys_and_types() -> None:
    validate_config(_data_node(label_type="coarse", batch_size=64, test_subset=100))
    with pytest.raises(ConfigValidationError, match="did you mean `batch_size`"):
        validate_config(_data_node(batch_szie=64))
    with pytest.raises(ConfigValidationError, match="batch_size"):
        validate_config(_data_node(batch_size=0))


def _make(extra: float = 0.5, **rest: Any) -> _Child:
    return _Child(extra=extra, **rest)


def test_passes_on_lists_the_targets_parameters_in_the_loaders_signature() -> None:
    from robustlens.utils.signatures import passes_on

    loader = passes_on(_Child, exclude=("name",))(_make)
    sig, hints = constructor_signature(loader)
    assert list(sig.parameters) == ["extra", "size"]  # own first, then the target's, less the excluded
    assert sig.parameters["size"].kind is inspect.Parameter.KEYWORD_ONLY and "size" in hints
    assert loader(size=3).size == 3  # calls are unchanged
    with pytest.raises(TypeError, match="must end with \\*\\*kwargs"):
        passes_on(_Child)(lambda extra=0.5: extra)


def test_classifier_and_generator_loaders_validate_their_passed_on_options() -> None:
    from robustlens.models.classifiers.sources.timm_source import load_timm
    from robustlens.models.generators.custom import load_torchscript_generator

    assert {"mean", "std", "strict", "prefix", "allow_stochastic"} <= set(parameter_names(load_timm))
    assert {"latent_dim", "prior", "clamp"} <= set(parameter_names(load_torchscript_generator))
    node = OmegaConf.create({"classifier": {"_target_": "robustlens.models.classifiers.sources.timm_source.load_timm",
                                            "name": "resnet18", "chanels": 3, "channels": 5}})
    with pytest.raises(ConfigValidationError) as err:
        validate_config(node)
    assert "did you mean `channels`" in str(err.value) and "classifier.channels = 5" in str(err.value)
