"""Mutants of the device paths (issue 22): bugs a CPU catches, though most would only break on a GPU.

A host tensor mixed into a CUDA computation is caught on fake CUDA tensors (``FakeTensorMode``); a
trainer setting that never reaches the generator's fit is caught by its checkpoint; a compile option
that is silently ignored is caught by the wrapper's type.
"""

from __future__ import annotations

from tests.mutants.mutant import Mutant

DEVICE_DTYPE = "tests/attacks/test_device_dtype.py"
GENERATOR_TRAINER = "tests/tasks/test_generator_trainer.py"
COMPILED = "tests/evaluation/test_compiled.py"

MUTANTS: list[Mutant] = [
    Mutant(
        name="frost_tint_on_the_host",
        area="device",
        path="src/robustlens/attacks/corruptions/functional.py",
        old="tint = torch.tensor([0.85, 0.93, 1.0], device=tex.device, dtype=tex.dtype)",
        new="tint = torch.tensor([0.85, 0.93, 1.0])",
        tests=(f"{DEVICE_DTYPE}::test_corruption_follows_the_input_dtype_and_device[frost-3]",),
    ),
    Mutant(
        name="corruption_output_in_float32",
        area="device",
        path="src/robustlens/attacks/corruptions/functional.py",
        old="return out.to(dtype)",
        new="return out",
        tests=(f"{DEVICE_DTYPE}::test_corruption_follows_the_input_dtype_and_device[fog-1]",),
    ),
    Mutant(
        name="generator_fit_ignores_the_trainer_config",
        area="device",
        path="src/robustlens/tasks/generator_training.py",
        old="cfg.task.module, datamodule, cfg.trainer, output_dir,",
        new="cfg.task.module, datamodule, cached_generator_trainer(cfg.trainer, int(cfg.trainer.max_epochs)), output_dir,",
        tests=(f"{GENERATOR_TRAINER}::test_the_trainer_config_reaches_the_generator_fit",),
    ),
    Mutant(
        name="cached_generator_on_every_device_of_the_job",
        area="device",
        path="src/robustlens/tasks/generator_training.py",
        old='"devices": 1,',
        new='"devices": trainer_cfg.get("devices", 1),',
        tests=(f"{GENERATOR_TRAINER}::test_the_cached_generator_trains_on_the_job_accelerator_on_one_device",),
    ),
    Mutant(
        name="compile_option_ignored",
        area="device",
        path="src/robustlens/evaluation/compiled.py",
        old='return classifier if mode == "none" else CompiledClassifier(classifier, mode, backend)',
        new="return classifier",
        tests=(f"{COMPILED}::test_the_wrapper_shares_the_classifier_parameters_and_feature_layer",),
    ),
    Mutant(
        name="unknown_compile_mode_accepted",
        area="device",
        path="src/robustlens/evaluation/compiled.py",
        old="if mode not in COMPILE_MODES:",
        new="if mode not in COMPILE_MODES and mode.isdigit():",
        tests=(f"{COMPILED}::test_none_leaves_the_classifier_alone_and_an_unknown_mode_is_refused",
               f"{COMPILED}::test_an_evaluation_with_an_unknown_compile_mode_stops_before_any_probe"),
    ),
]
