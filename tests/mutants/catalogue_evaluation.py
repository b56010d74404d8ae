"""Mutants of the evaluation's bookkeeping: resuming probe by probe, and the results writer."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

MUTANTS: list[Mutant] = [
    Mutant("probe_fingerprint_includes_other_probes", "resume", "src/robustlens/evaluation/resume.py",
           "evaluation[\"probes\"] = {name: all_probes.get(name)}", "pass",
           ("tests/tasks/test_evaluate.py::test_changing_one_probe_reruns_only_that_probe",)),
    Mutant("probe_reused_whatever_its_config", "resume", "src/robustlens/evaluation/resume.py",
           'if name in fingerprints and record.get("params", {}).get("config_fingerprint") == fingerprints[name]',
           "if name in fingerprints",
           ("tests/tasks/test_evaluate.py::test_finished_probes_of_another_configuration_are_not_reused",)),
    Mutant("results_failure_overwrites_complete", "results", "src/robustlens/tasks/common.py",
           'if results.is_file() and json.loads(results.read_text()).get("status") == "complete":',
           'if results.is_file() and json.loads(results.read_text()).get("status") == "partial":',
           ("tests/tasks/test_failure_record.py::test_a_failure_after_complete_results_leaves_them_untouched",)),
    Mutant("results_infinity_not_null", "results", "src/robustlens/utils/io.py",
           "if isinstance(obj, float) and not math.isfinite(obj):", "if isinstance(obj, float) and math.isnan(obj):",
           ("tests/sweeps/test_resume.py::test_write_json_atomic_leaves_no_temp_files_and_stores_nan_as_null",)),
    Mutant("results_status_unchecked", "results", "src/robustlens/utils/results_file.py",
           'if payload.get("status") not in STATUSES:', "if False:",
           ("tests/sweeps/test_resume.py::test_write_results_rejects_payload_outside_contract",)),
    Mutant("results_partial_counts_as_complete", "results", "src/robustlens/utils/results_file.py",
           "if payload[\"status\"] != \"complete\":\n        return False", "if payload[\"status\"] == \"failed\":\n        return False",
           ("tests/sweeps/test_resume.py::test_partial_and_failed_are_not_complete",)),
]
