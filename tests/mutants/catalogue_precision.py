"""Mutants of issue 22, part A: fp32 verdicts whatever the search precision, the faithful refusal,
fp16's loss scale, the scoped TF32 flags, and search loops that read the host once per k steps."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

PRECISION = "tests/attacks/test_precision.py"
SYNCS = "tests/attacks/test_host_syncs.py"

MUTANTS: list[Mutant] = [
    Mutant(
        name="verdict_pass_under_the_search_s_autocast",
        area="precision",
        path="src/robustlens/attacks/base.py",
        old="            with fp32_pass(x.device.type):\n",
        new="            with search_precision(arithmetic, x.device.type):\n",
        tests=(f"{PRECISION}::test_the_verdict_is_an_fp32_pass_whatever_the_search_precision",),
    ),
    Mutant(
        name="faithful_precision_refusal_removed",
        area="precision",
        path="src/robustlens/attacks/precision.py",
        old='    if faithful and name != "fp32":',
        new='    if False and faithful and name != "fp32":',
        tests=(f"{PRECISION}::test_faithful_procedures_refuse_every_precision_but_fp32",
               f"{PRECISION}::test_an_evaluation_precision_reaches_every_probe_and_faithful_ones_refuse_it_by_name"),
    ),
    Mutant(
        name="evaluation_precision_not_passed_on_to_the_probes",
        area="precision",
        path="src/robustlens/evaluation/building.py",
        old='probe.use_precision(evaluation.get("precision") or "fp32")',
        new='probe.use_precision("fp32")',
        tests=(f"{PRECISION}::test_an_evaluation_precision_reaches_every_probe_and_faithful_ones_refuse_it_by_name",),
    ),
    Mutant(
        name="fp16_without_a_loss_scale",
        area="precision",
        path="src/robustlens/attacks/precision.py",
        old='FP16_LOSS_SCALE if name == "fp16" else 1.0',
        new="1.0",
        tests=(f"{PRECISION}::test_fp16_loss_scale_keeps_small_gradients_from_underflowing",),
    ),
    Mutant(
        name="tf32_flags_not_restored_after_the_search",
        area="precision",
        path="src/robustlens/attacks/precision.py",
        old="        torch.backends.cuda.matmul.allow_tf32 = matmul\n",
        new="        pass\n",
        tests=(f"{PRECISION}::test_tf32_is_scoped_to_the_search_and_off_in_the_verdict",),
    ),
    Mutant(
        name="paper_a_s_search_reads_the_host_every_iteration",
        area="precision",
        path="src/robustlens/attacks/paper_a_search.py",
        old="        if iteration % check_every:\n            continue\n",
        new="",
        tests=(f"{SYNCS}::test_paper_a_search_reads_once_per_k_iterations",),
    ),
    Mutant(
        name="pgd_s_early_stop_reads_the_host_every_step",
        area="precision",
        path="src/robustlens/attacks/pgd.py",
        old="(step + 1) % self.check_every == 0 and ",
        new="",
        tests=(f"{SYNCS}::test_pgd_early_stop_reads_once_per_k_steps",),
    ),
    Mutant(
        name="the_nan_inf_watch_reads_the_host_at_every_forward_pass",
        area="precision",
        path="src/robustlens/utils/finite.py",
        old="        bad = bad_rows.any()\n",
        new="        bad = bad_rows.any()\n        if not bool(bad):\n            return\n",
        tests=(f"{SYNCS}::test_pgd_early_stop_reads_once_per_k_steps",),
    ),
    Mutant(
        name="generator_label_check_read_at_every_decode",
        area="precision",
        path="src/robustlens/models/generators/checks.py",
        old="        if version is None:  # an inference tensor has no version counter: never reuse\n",
        new="        if True:\n",
        tests=(f"{SYNCS}::test_a_latent_search_with_checked_per_class_decodes_reads_once_per_k_iterations",),
    ),
    Mutant(
        name="pgd_trusts_the_low_precision_early_stop",
        area="precision",
        path="src/robustlens/attacks/pgd.py",
        old="        lowered = self.early_stop and precision.lowered()\n",
        new="        lowered = False\n",
        tests=(f"{PRECISION}::test_pgd_searches_on_where_only_the_low_precision_pass_calls_a_point_adversarial",),
    ),
    Mutant(
        name="fmn_decides_adversarial_by_the_low_precision_pass",
        area="precision",
        path="src/robustlens/attacks/fmn.py",
        old="        lowered = precision.lowered()\n",
        new="        lowered = False\n",
        tests=(f"{PRECISION}::test_fmn_in_bf16_finds_what_fp32_finds",),
    ),
    Mutant(
        name="autoattack_components_keep_points_only_the_low_precision_pass_calls_adversarial",
        area="precision",
        path="src/robustlens/attacks/autoattack.py",
        old="            if precision.lowered():\n",
        new="            if False:\n",
        tests=(f"{PRECISION}::test_apgd_attacks_again_in_fp32_where_only_the_low_precision_pass_was_fooled",),
    ),
]
