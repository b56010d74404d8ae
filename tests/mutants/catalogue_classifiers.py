"""Mutants of the classifier sources: robustbench, timm, torchvision, torchscript, module."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_S = "src/robustlens/models/classifiers/sources/"

MUTANTS: list[Mutant] = [
    Mutant("robustbench_percent_not_fraction", "classifiers", _S + "robustbench_source.py",
           "return None if percent is None else round(float(percent) / 100.0, 6)",
           "return None if percent is None else round(float(percent), 6)",
           ("tests/zoo/test_robustbench.py::test_the_loaded_model_carries_the_published_accuracies_as_fractions",)),
    Mutant("timm_std_from_mean", "classifiers", _S + "timm_source.py",
           '"std": [float(v) for v in cfg["std"]] if cfg.get("std") else None',
           '"std": [float(v) for v in cfg["mean"]] if cfg.get("std") else None',
           ("tests/zoo/test_sources.py::test_timm_source_end_to_end",)),
    Mutant("torchvision_std_from_mean", "classifiers", _S + "torchvision_source.py",
           '"std": [float(v) for v in transforms.std]', '"std": [float(v) for v in transforms.mean]',
           ("tests/zoo/test_sources.py::test_torchvision_source_end_to_end",)),
    Mutant("torchscript_normalisation_dropped", "classifiers", _S + "torchscript_source.py",
           "network, mean, std, as_size(input_size", "network, None, None, as_size(input_size",
           ("tests/zoo/test_sources.py::test_torchscript_source_end_to_end_and_train_mode_flag",)),
    Mutant("module_weights_not_loaded", "classifiers", _S + "module_source.py",
           "    if weights is not None:\n        source.load_state(", "    if weights is None:\n        source.load_state(",
           ("tests/zoo/test_sources.py::test_module_state_dict_key_mismatches_are_listed",)),
    Mutant("source_option_mean_ignored", "classifiers", _S + "options.py",
           'mean = self.mean if self.mean is not None else metadata.get("mean")', 'mean = metadata.get("mean")',
           ("tests/zoo/test_sources.py::test_module_probabilities_class_count_and_randomness",)),
]
