"""Mutants of Paper A's image-space severity search (issue 25) and the differential tests that catch them.

Each bug below changes the faithful severity while every test of robustlens alone could still pass
(the search still finds adversarial points, only other ones); the tests that must catch it are the
comparisons with the authors' ``PGDAdversary`` in ``tests/reference/test_trajectories.py``: the
deterministic L∞ search on every classifier, and the 'min' search from the same random starts
(``severity_*_min_R5_shared_starts``), which is the only one that exercises the random starts and
the shrinking radius of the 'min' repeats.
"""

from __future__ import annotations

from tests.mutants.mutant import Mutant

SEARCH = "src/robustlens/attacks/paper_a_search.py"
SEVERITY = "src/robustlens/attacks/severity.py"
TRAJECTORIES = "tests/reference/test_trajectories.py"


def _runs(case: str, *modes: str) -> tuple[str, ...]:
    return tuple(f"{TRAJECTORIES}::test_image_space_search_trajectories_agree[{case}-{mode}]" for mode in modes)


MUTANTS: list[Mutant] = [
    Mutant(
        name="severity_linf_step_descends",
        area="severity",
        path=SEARCH,
        old="return grad.sign(), grad.flatten(1).abs().amax(dim=1) == 0",
        new="return -grad.sign(), grad.flatten(1).abs().amax(dim=1) == 0",
        tests=_runs("severity_linf_min_R1", "oneepoch", "robust"),
    ),
    Mutant(
        'severity_min_repeats_keep_the_first_radius', 'severity', 'src/robustlens/attacks/paper_a_search.py',
        'work.rho_cur = torch.where(kept, size, work.rho_cur)',
        'work.rho_cur = work.rho_cur',
        ('tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-plain]', 'tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-both]'),
    ),
    Mutant(
        'severity_random_start_on_the_sphere', 'severity', 'src/robustlens/attacks/paper_a_search.py',
        'rad = rows_view(radius[live, r] * work.rho_cur, u)',
        'rad = rows_view(work.rho_cur, u)',
        ('tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_l2_min_R5_shared_starts-plain]', 'tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_l2_min_R5_shared_starts-conventional]'),
    ),
    Mutant(
        'severity_linf_projection_one_sided', 'severity', 'src/robustlens/attacks/geometry.py',
        'return torch.maximum(torch.minimum(delta, r), -r)',
        'return torch.minimum(delta, r)',
        ('tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-plain]', 'tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-robust]'),
    ),
    Mutant(
        'severity_linf_minimum_kept_by_the_largest_signed_pixel', 'severity', 'src/robustlens/attacks/geometry.py',
        'return flat.abs().amax(dim=1)',
        'return flat.amax(dim=1)',
        ('tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-plain]', 'tests/reference/test_trajectories.py::test_image_space_search_trajectories_agree[severity_linf_min_R5_shared_starts-both]'),
    ),
    Mutant(
        name="severity_faithful_returns_the_clipped_image",
        area="severity",
        path=SEVERITY,
        old="        return not self.faithful\n",
        new="        return True\n",
        tests=(f"{TRAJECTORIES}::test_faithful_image_attacks_report_the_searched_point"
               "[severity_linf_min_R5_shared_starts-plain]",),
    ),
]
