"""Mutants of the minimal-norm and latent searches: ``minimal_norm_search``, Paper A's search
(A.4) and the generator latent probes (LGA/LRA, LLNA, LAGS/LARS/LAGA)."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_A = "src/robustlens/attacks/"
_PROBES = "src/robustlens/evaluation/latent_probes.py"

MUTANTS: list[Mutant] = [
    Mutant(
        'mns_radius_grows_when_adversarial', 'searches', 'src/robustlens/attacks/minimal_norm_search.py',
        'better = adv & (d_norm < best_norm)',
        'better = adv & (d_norm > best_norm)',
        ('tests/latent/test_minimal_norm_search.py::test_reaches_the_analytic_distance_to_a_linear_boundary',),
    ),
    Mutant("mns_returns_last_iterate", "searches", _A + "minimal_norm_search.py",
           "out = torch.where(found.view(view), best, delta)", "out = delta",
           ("tests/latent/test_minimal_norm_search.py::test_found_points_are_adversarial_and_within_the_cap[scaled_l2]",)),
    Mutant(
        'paper_a_min_keeps_larger', 'searches', 'src/robustlens/attacks/paper_a_search.py',
        'return won & (size < bound)',
        'return won & (size > bound)',
        ('tests/latent/test_paper_a_search.py::test_found_points_are_adversarial_and_unfound_within_budget',),
    ),
    Mutant(
        'paper_a_step_ignores_rel_step', 'searches', 'src/robustlens/attacks/paper_a_search.py',
        'step = rows_view(work.rho_cur, direction) * rules.rel_step * direction',
        'step = rows_view(work.rho_cur, direction) * direction',
        ('tests/latent/test_paper_a_search.py::test_minimum_search_approaches_analytic_distance_to_linear_boundary',),
    ),
    Mutant(
        'paper_a_first_final_every_run', 'searches', 'src/robustlens/attacks/paper_a_search.py',
        'rows_view(work.run == 0, work.p)',
        'rows_view(work.run >= 0, work.p)',
        ('tests/latent/test_paper_a_search.py::test_batched_equals_one_at_a_time[False-True-scaled_l2-any]',),
    ),
    Mutant(
        'paper_a_scaled_l2_unscaled', 'searches', 'src/robustlens/attacks/geometry.py',
        'return flat.norm(p=2, dim=1) / math.sqrt(flat.shape[1])',
        'return flat.norm(p=2, dim=1)',
        ('tests/latent/test_paper_a_search.py::test_batched_equals_one_at_a_time[True-True-scaled_l2-any]',),
    ),
    Mutant("llna_no_decay", "searches", _PROBES,
           "self.eps * nu) * decay_factor(self.eps)", "self.eps * nu)",
           ("tests/latent/test_latent_noise_decay.py",)),
    Mutant("llna_counts_errors", "searches", _PROBES,
           "rate = preds.eq(y[:, None]).double().mean(dim=1)", "rate = preds.ne(y[:, None]).double().mean(dim=1)",
           ("tests/latent/test_latent_probes.py::test_llna_with_zero_noise_equals_lra",)),
    Mutant("latent_search_no_decay", "searches", _PROBES,
           "l_d = codes * decay_factor(self.eps)", "l_d = codes",
           ("tests/latent/test_latent_probes.py::test_decay_and_scaled_norm_hand_values",)),
    Mutant("latent_norm_growth_wrong", "searches", _PROBES,
           '"norm_growth": scaled_l2(l_d + delta) - scaled_l2(l_d)', '"norm_growth": scaled_l2(delta)',
           ("tests/latent/test_latent_probes.py::test_decay_and_scaled_norm_hand_values",)),
]
