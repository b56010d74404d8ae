"""Mutants for the test gaps of issue 21: each is a bug that the suite let pass before its test was added
(or made to name what it checks); each was applied by hand and its selection seen to fail.

Selections that run an evaluation share one module fixture per run of pytest (about 30-60 s on a
contended 2-core machine); the others take seconds."""

from __future__ import annotations

from tests.mutants.mutant import Mutant

_CORRUPTIONS = "src/robustlens/attacks/corruptions/functional.py"
_PARAMETERS = "tests/attacks/test_corruption_parameters.py"

MUTANTS: list[Mutant] = [
    # --- CIFAR-10-C parameters (published table of make_cifar_c.py) ---
    Mutant("shot_noise_severity_5_50_10", "corruptions", _CORRUPTIONS,
           '"shot_noise": (500, 250, 100, 75, 50),', '"shot_noise": (500, 250, 100, 75, 10),',
           (_PARAMETERS,)),
    Mutant("gaussian_noise_every_severity_doubled_in_the_function", "corruptions", _CORRUPTIONS,
           'return (x + c * rnd.randn("noise", x.shape[1:])).clamp(0, 1)',
           'return (x + 2 * c * rnd.randn("noise", x.shape[1:])).clamp(0, 1)',
           (f"{_PARAMETERS}::test_noise_levels_are_the_published_ones",)),
    Mutant("gaussian_blur_severity_5_sigma_1_2", "corruptions", _CORRUPTIONS,
           '"gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),', '"gaussian_blur": (0.4, 0.6, 0.7, 0.8, 2.0),',
           (_PARAMETERS,)),
    Mutant("gaussian_blur_sigma_read_from_the_wrong_severity_in_the_function", "corruptions", _CORRUPTIONS,
           'c = _c("gaussian_blur", severity)', 'c = _c("gaussian_blur", min(severity + 1, 5))',
           (f"{_PARAMETERS}::test_gaussian_blur_is_scipys_filter_with_the_published_sigma",)),
    Mutant("zoom_blur_rounded_arange_length_one_zoom_factor_short_at_severities_1_2", "corruptions",
           _CORRUPTIONS, "zooms = [float(z) for z in np.arange(1, top, 0.01)]",
           "zooms = [1 + 0.01 * i for i in range(round((top - 1) / 0.01))]",
           (f"{_PARAMETERS}::test_zoom_defocus_pixelate_and_jpeg_use_the_published_parameters",)),
    Mutant("elastic_transform_affine_jitter_doubled", "corruptions", _CORRUPTIONS,
           'rnd.uniform("affine", (3, 2), -jitter, jitter)', 'rnd.uniform("affine", (3, 2), -2 * jitter, 2 * jitter)',
           (f"{_PARAMETERS}::test_elastic_transform_has_the_published_affine_jitter_and_local_displacement",)),
    Mutant("elastic_transform_displacement_field_smoothed_with_twice_sigma", "corruptions", _CORRUPTIONS,
           'fl.gaussian_blur(fields, sigma, mode="reflect", truncate=3.0) * alpha',
           'fl.gaussian_blur(fields, 2 * sigma, mode="reflect", truncate=3.0) * alpha',
           (f"{_PARAMETERS}::test_elastic_transform_has_the_published_affine_jitter_and_local_displacement",)),
]

_AUTOATTACK = "src/robustlens/attacks/autoattack.py"
_AA_TEST = "tests/attacks/test_autoattack_adapter.py::test_autoattack_later_components_run_on_a_gradient_masked_model"
MUTANTS += [
    # --- AutoAttack: the adapter's own record of the components it ran ---
    Mutant("autoattack_adapter_drops_fab_t", "autoattack", _AUTOATTACK,
           "        aa.fab.n_target_classes = min(aa.fab.n_target_classes, num_classes - 1)\n",
           "        aa.fab.n_target_classes = min(aa.fab.n_target_classes, num_classes - 1)\n"
           "        aa.attacks_to_run = [a for a in aa.attacks_to_run if a != 'fab-t']\n",
           (_AA_TEST,)),
    Mutant("autoattack_adapter_drops_apgd_t", "autoattack", _AUTOATTACK,
           "        aa.fab.n_target_classes = min(aa.fab.n_target_classes, num_classes - 1)\n",
           "        aa.fab.n_target_classes = min(aa.fab.n_target_classes, num_classes - 1)\n"
           "        aa.attacks_to_run = [a for a in aa.attacks_to_run if a != 'apgd-t']\n",
           (_AA_TEST,)),
]

_TRAIN = "src/robustlens/tasks/train.py"
_RESUME_TESTS = "tests/tasks/test_train_resume.py"
MUTANTS += [
    # --- training resume: what was resumed, not only where the run ended ---
    Mutant("train_ckpt_path_no_longer_passed_to_trainer_fit", "resume", _TRAIN,
           "trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path,",
           "trainer.fit(module, datamodule=datamodule, ckpt_path=None,",
           (f"{_RESUME_TESTS}::test_a_run_resumed_from_its_checkpoint_ends_where_an_uninterrupted_run_ends",)),
    Mutant("train_a_rerun_job_no_longer_looks_for_its_own_checkpoint", "resume", _TRAIN,
           'resumed = None if cfg.get("ckpt_path") else _resume_checkpoint(trainer)', "resumed = None",
           (f"{_RESUME_TESTS}::test_a_job_rerun_in_its_own_dir_continues_from_its_last_finished_epoch",)),
]

_TIMM = "src/robustlens/models/classifiers/sources/timm_source.py"
_TIMM_TEST = "tests/zoo/test_sources.py::test_timm_normalisation_comes_from_the_models_own_pretrained_config"
MUTANTS += [
    # --- timm: normalisation from the model's own pretrained config ---
    Mutant("timm_imagenet_s_default_mean_hard_coded", "sources", _TIMM,
           '"mean": [float(v) for v in cfg["mean"]] if cfg.get("mean") else None,',
           '"mean": [0.485, 0.456, 0.406],', (_TIMM_TEST,)),
]

_EVALUATE_TESTS = "tests/tasks/test_evaluate.py"
_WORST_E2E = f"{_EVALUATE_TESTS}::test_worst_case_over_three_attacks_is_pointwise_over_per_sample_csv"
_REPORT_E2E = f"{_EVALUATE_TESTS}::test_report_of_a_real_evaluation_shows_the_values_of_its_results_json"
_NUMPY_E2E = f"{_EVALUATE_TESTS}::test_every_metric_of_a_real_evaluation_is_its_numpy_definition_over_per_sample_csv"
MUTANTS += [
    # --- worst case end to end over three attacks, against per_sample.csv ---
    Mutant("worst_case_robust_if_any_attack_failed_not_every_one", "worst_case",
           "src/robustlens/evaluation/worst_case.py", 'reduce="amax")', 'reduce="amin")', (_WORST_E2E,)),
    # --- report = results.json on a real evaluate -> report run ---
    Mutant("report_per_class_keys_numbered_from_1", "report", "src/robustlens/report/collect.py",
           "        cls = float(parts[-1])\n", "        cls = float(parts[-1]) + 1\n", (_REPORT_E2E,)),
    # --- metrics of a real run against the numpy definitions (replaces goldens from an earlier run) ---
    Mutant("cfps_counts_the_errors_true_classes_cfps_and_cfns_swapped", "metrics",
           "src/robustlens/metrics/classwise.py", '"cfps": rate(errors.sum(dim=0), total),',
           '"cfps": rate(errors.sum(dim=1), total),', (_NUMPY_E2E,)),
]
