"""Mutants of issue 23's contracts: one declaration per parameter, hooks on the base classes, the code
cache, the top-level keys from the config tree and the layers contract."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

DECLARED = "tests/project/test_parameters_declared_once.py"
HOOKS = "tests/project/test_hooks_declared.py"
CLI = "tests/tasks/test_cli.py"
SRC = "src/robustlens"

#: name: (path below src/robustlens, old, new, the test that must fail)
_BUGS: dict[str, tuple[str, str, str, str]] = {
    "pgd_eps_bound_dropped": (
        "attacks/pgd.py", "        eps: Annotated[float, Field(ge=0)],\n", "        eps: float,\n",
        f"{DECLARED}::test_bounds_stay_declared_in_the_signature"),
    "latent_rho_may_be_infinite": (
        "evaluation/latent_probes.py", "PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]",
        "PositiveFloat = Annotated[float, Field(gt=0)]", f"{DECLARED}::test_bounds_stay_declared_in_the_signature"),
    "constructors_not_checked": (
        "utils/parameters.py", 'if init is not None and not getattr(init, "__robustlens_checked__", False):',
        'if init is not None and getattr(init, "__robustlens_checked__", False):',
        f"{DECLARED}::test_python_and_config_say_the_same"),
    "describe_skips_parameters": (
        "utils/parameters.py", "            params[name] = described(getattr(self, attr))",
        "            params[name] = None",
        f"{DECLARED}::test_every_configured_metric_describes_itself_from_its_signature"),
    "metric_needs_inputs_by_default": (
        "metrics/base.py", "    needs_inputs: ClassVar[bool] = False", "    needs_inputs: ClassVar[bool] = True",
        f"{HOOKS}::test_default_hooks_do_nothing"),
    "probe_keeps_the_model_from_its_metrics": (
        "evaluation/probe.py", "            metric.set_model(model)", "            pass",
        f"{HOOKS}::test_the_evaluation_hands_the_model_to_every_metric_through_its_probe"),
    "code_cache_ignores_the_image_split": (
        "evaluation/latent_codes.py",
        "if entry is None or entry.split != split or not torch.equal(entry.index, index):",
        "if entry is None or not torch.equal(entry.index, index):", "tests/latent/test_latent_codes.py"),
    "top_level_keys_include_defaults": (
        "config/top_level.py", '_NOT_KEYS = {"defaults"}', "_NOT_KEYS: set[str] = set()",
        "tests/config/test_top_level.py::test_the_tree_gives_groups_primary_keys_and_global_packages"),
    "attack_imports_the_evaluation": (
        "attacks/noise.py", "from robustlens.attacks.base import Perturbation, predict\n",
        "from robustlens.attacks.base import Perturbation, predict\nfrom robustlens.evaluation import probe  # noqa\n",
        "tests/project/test_layers.py::test_the_contracts_are_kept"),
    "datamodule_batch_size_bound_dropped": (
        "data/base.py", "        batch_size: Annotated[int, Field(gt=0)] = 128,\n", "        batch_size: int = 128,\n",
        f"{DECLARED}::test_bounds_stay_declared_in_the_signature"),
    "datamodule_constructor_not_checked": (
        "data/base.py", "class ImageDataModule(CheckedInNew, LightningDataModule):",
        "class ImageDataModule(LightningDataModule):", f"{DECLARED}::test_bounds_stay_declared_in_the_signature"),
    # a wrapper around every __init__ as for attacks: Lightning's save_hyperparameters then stops at its frame
    "datamodule_init_wrapped": (
        "utils/parameters.py", "        if cls.checks_in_new:  # CheckedInNew\n            return\n", "",
        "tests/data/test_checked_datamodules.py::test_the_hyperparameters_keep_the_subclass_arguments_and_the_base_ones"),
    "attack_imports_torchmetrics": (
        "attacks/noise.py", "from robustlens.attacks.base import Perturbation, predict\n",
        "from robustlens.attacks.base import Perturbation, predict\nimport torchmetrics  # noqa\n",
        "tests/project/test_layers.py::test_the_contracts_are_kept"),
    "config_check_imports_everything_before_failing": (
        "config/validate.py", "    for group in (light, heavy):", "    for group in (light + heavy,):",
        f"{CLI}::test_a_bad_attack_parameter_is_refused_before_lightning_and_torchmetrics_are_imported"),
    "a_configuration_error_imports_wandb": (
        "tasks/common.py", '    wandb = sys.modules.get("wandb")', "    import wandb",
        f"{CLI}::test_a_bad_attack_parameter_is_refused_before_lightning_and_torchmetrics_are_imported"),
    "a_configuration_error_imports_lightning_for_the_rank": (
        "tasks/common.py", '    rank_zero = sys.modules.get("lightning.fabric.utilities.rank_zero")',
        "    import lightning.fabric.utilities.rank_zero as rank_zero",
        f"{CLI}::test_a_bad_attack_parameter_is_refused_before_lightning_and_torchmetrics_are_imported"),
}

MUTANTS: list[Mutant] = [
    Mutant(name=name, area="contracts", path=f"{SRC}/{path}", old=old, new=new, tests=(test,))
    for name, (path, old, new, test) in _BUGS.items()
]
