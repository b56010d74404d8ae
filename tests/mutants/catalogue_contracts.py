"""Mutants of issue 23's contracts: one declaration per parameter, hooks on the base classes, the code
cache, the top-level keys from the config tree and the layers contract."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

DECLARED = "tests/project/test_parameters_declared_once.py"
HOOKS = "tests/project/test_hooks_declared.py"

MUTANTS: list[Mutant] = [
    Mutant(
        name="pgd-eps-bound-dropped",
        area="contracts",
        path="src/robustlens/attacks/pgd.py",
        old="        eps: Annotated[float, Field(ge=0)],\n",
        new="        eps: float,\n",
        tests=(f"{DECLARED}::test_bounds_stay_declared_in_the_signature",),
    ),
    Mutant(
        name="latent-rho-may-be-infinite",
        area="contracts",
        path="src/robustlens/evaluation/latent_probes.py",
        old="PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]",
        new="PositiveFloat = Annotated[float, Field(gt=0)]",
        tests=(f"{DECLARED}::test_bounds_stay_declared_in_the_signature",),
    ),
    Mutant(
        name="constructors-not-checked",
        area="contracts",
        path="src/robustlens/utils/parameters.py",
        old='if init is not None and not getattr(init, "__robustlens_checked__", False):',
        new='if init is not None and getattr(init, "__robustlens_checked__", False):',
        tests=(f"{DECLARED}::test_python_and_config_say_the_same",),
    ),
    Mutant(
        name="describe-skips-parameters",
        area="contracts",
        path="src/robustlens/utils/parameters.py",
        old="            params[name] = described(getattr(self, attr))",
        new="            params[name] = None",
        tests=(f"{DECLARED}::test_every_configured_metric_describes_itself_from_its_signature",),
    ),
    Mutant(
        name="metric-needs-inputs-by-default",
        area="contracts",
        path="src/robustlens/metrics/base.py",
        old="    needs_inputs: ClassVar[bool] = False",
        new="    needs_inputs: ClassVar[bool] = True",
        tests=(f"{HOOKS}::test_default_hooks_do_nothing",),
    ),
    Mutant(
        name="probe-keeps-the-model-from-its-metrics",
        area="contracts",
        path="src/robustlens/evaluation/probe.py",
        old="            metric.set_model(model)",
        new="            pass",
        tests=(f"{HOOKS}::test_the_evaluation_hands_the_model_to_every_metric_through_its_probe",),
    ),
    Mutant(
        name="code-cache-ignores-the-image-split",
        area="contracts",
        path="src/robustlens/evaluation/latent_codes.py",
        old="if entry is None or entry.split != split or not torch.equal(entry.index, index):",
        new="if entry is None or not torch.equal(entry.index, index):",
        tests=("tests/latent/test_latent_codes.py",),
    ),
    Mutant(
        name="top-level-keys-include-defaults",
        area="contracts",
        path="src/robustlens/config/top_level.py",
        old='_NOT_KEYS = {"defaults"}',
        new="_NOT_KEYS: set[str] = set()",
        tests=("tests/config/test_top_level.py::test_the_tree_gives_groups_primary_keys_and_global_packages",),
    ),
    Mutant(
        name="attack-imports-the-evaluation",
        area="contracts",
        path="src/robustlens/attacks/noise.py",
        old="from robustlens.attacks.base import Perturbation, predict\n",
        new="from robustlens.attacks.base import Perturbation, predict\nfrom robustlens.evaluation import probe  # noqa: F401\n",
        tests=("tests/project/test_layers.py::test_the_contracts_are_kept",),
    ),
]
