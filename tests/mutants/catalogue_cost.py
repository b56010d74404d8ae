"""Mutants of issue 24's cost per probe, robust-fairness set and GREAT Score."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_M = "src/robustlens/metrics/"
_E = "src/robustlens/evaluation/"
_COST = "tests/evaluation/test_cost.py"
_FAIRNESS = "tests/metrics/test_fairness.py"
_GREAT = "tests/latent/test_great_score.py"

MUTANTS: list[Mutant] = [
    Mutant("cost_backward_not_counted", "cost", _E + "cost.py",
           "        self.backward += size", "        self.backward += 0", (_COST,)),
    Mutant("cost_generator_decode_not_counted", "cost", _E + "cost.py",
           "        counter.observe(output)\n        return output", "        return output", (_COST,)),
    Mutant("cost_samples_of_the_last_batch_only", "cost", _E + "module.py",
           "self._cost_samples += len(index)", "self._cost_samples = len(index)", (_COST,)),
    Mutant("cost_forward_counted_per_call_not_per_sample", "cost", _E + "cost.py",
           "size = int(tensor.shape[0]) if tensor.ndim else 1", "size = 1", (_COST,)),
    # every cost field skipped: two runs whose pass counts differ would compare equal
    Mutant("cost_counts_treated_as_measured", "cost", _E + "cost.py",
           'return head.endswith("/cost") and field_name in MEASURED_FIELDS', 'return head.endswith("/cost")',
           (_COST + "::test_only_seconds_and_peak_memory_of_a_cost_are_measured",)),
    Mutant("gini_off_by_a_factor_two", "cost", _M + "functional/fairness.py",
           "(v[:, None] - v[None, :]).abs().sum() / (2 * v.numel() ** 2 * v.mean())",
           "(v[:, None] - v[None, :]).abs().sum() / (v.numel() ** 2 * v.mean())", (_FAIRNESS,)),
    Mutant("variance_with_ddof_1", "cost", _M + "functional/fairness.py",
           '"classwise_accuracy_variance": observed.var(correction=0)',
           '"classwise_accuracy_variance": observed.var()', (_FAIRNESS,)),
    Mutant("boundary_error_counts_clean_errors", "cost", _M + "fairness.py",
           "crossed = clean.eq(labels) & preds.ne(labels)", "crossed = preds.ne(labels)", (_FAIRNESS,)),
    Mutant("adversarial_flow_transposed", "cost", _M + "fairness.py",
           "pairs = labels[flipped] * self.num_classes + preds[flipped]",
           "pairs = preds[flipped] * self.num_classes + labels[flipped]", (_FAIRNESS,)),
    Mutant("great_without_sqrt_half_pi", "cost", _M + "functional/great.py",
           "return SQRT_HALF_PI * (own - others).clamp_min(0)", "return (own - others).clamp_min(0)", (_GREAT,)),
    # top-1 minus top-2 whatever the label: a misclassified sample would score > 0
    Mutant("great_scores_the_predicted_class", "cost", _M + "functional/great.py",
           "own = probs.gather(1, labels.long()[:, None]).squeeze(1)\n"
           "    others = probs.scatter(1, labels.long()[:, None], -math.inf).amax(dim=1)",
           "own, others = probs.topk(2, dim=1).values.unbind(dim=1)", (_GREAT,)),
    Mutant("great_hoeffding_one_sided", "cost", _M + "functional/great.py",
           "math.log(2 / delta)", "math.log(1 / delta)", (_GREAT,)),
]
