"""Mutants of the configuration checks (``config/validate.py``) and the SLURM/requeue path."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

MUTANTS: list[Mutant] = [
    Mutant("config_unknown_key_accepted", "config", "src/robustlens/config/validate.py",
           "        if key not in params:\n            if not takes_any:",
           "        if key not in params:\n            if takes_any:",
           ("tests/tasks/test_cli.py::test_bad_config_is_refused_with_a_message_naming_key_and_choices[overrides6-expected6]",)),
    Mutant("config_types_unchecked", "config", "src/robustlens/utils/parameters.py",
           "        if message:\n            problems.append(", "        if message and False:\n            problems.append(",
           ("tests/tasks/test_cli.py::test_bad_config_is_refused_with_a_message_naming_key_and_choices[overrides1-expected1]",)),
    Mutant("requeue_resumes_from_oldest_checkpoint", "slurm", "src/robustlens/utils/training_checkpoints.py",
           "f.name == \"last.ckpt\"),\n                        reverse=True)",
           "f.name == \"last.ckpt\"),\n                        reverse=False)",
           ("tests/sweeps/test_requeue_checkpoint.py::test_the_newest_checkpoint_is_resumed_from_and_last_wins_a_tie",)),
    Mutant("requeue_resumes_from_finished_fit", "slurm", "src/robustlens/utils/training_checkpoints.py",
           'int(payload["epoch"]) + 1 >= max_epochs', 'int(payload["epoch"]) >= max_epochs',
           ("tests/sweeps/test_requeue_checkpoint.py::test_the_final_epoch_is_passed_over_but_an_earlier_one_resumed",)),
]
