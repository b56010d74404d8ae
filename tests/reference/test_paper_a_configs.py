"""The two Paper A tables are what they say: the authors' procedure, and robustlens' valid images.

``experiment=buzhinsky2020_mnist`` must run every probe that has an authors' procedure in that
procedure (faithful searches, unclipped noise, training images for reconstruction);
``experiment=buzhinsky2020_mnist_valid_images`` none of them. ``faithful=true`` on a probe
without an authors' procedure is refused before anything runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from robustlens.attacks.faithful import faithful_procedure
from robustlens.attacks.noise import GaussianNoise
from robustlens.config.validate import ConfigValidationError, validate_config
from robustlens.data.training_images import SameRankTrainingImages
from robustlens.evaluation.latent_probe_base import LatentProbe
from robustlens.tasks.evaluate import build_probes
from tests.hydra_utils import REPO_ROOT, compose_config

CONF = REPO_ROOT / "experiments" / "buzhinsky2020_mnist" / "conf"


def _compose(experiment: str, tmp_path: Path, shared: Path, *extra: str):
    return compose_config("evaluate", [f"hydra.searchpath=[file://{CONF}]", f"experiment={experiment}",
                                       f"paths.shared_dir={shared}", *extra], tmp_path)


def _faithful(probe) -> bool | None:
    """True/False for objects with an authors' procedure (probe or its attack), None otherwise."""
    obj = getattr(probe, "attack", probe)
    if faithful_procedure(obj) is None:
        return None
    return (not obj.clip) if isinstance(obj, GaussianNoise) else bool(obj.faithful)


def test_paper_a_experiment_is_the_authors_procedure(tmp_path: Path, shared: Path):
    cfg = _compose("buzhinsky2020_mnist", tmp_path, shared)
    validate_config(cfg)
    probes = build_probes(cfg, num_classes=10)
    with_procedure = {name: _faithful(p) for name, p in probes.items() if _faithful(p) is not None}
    assert set(with_procedure) == {"noise", "severity_l2", "severity_linf", "bounded_l2_a", "bounded_l2_b",
                                   "bounded_linf_a", "bounded_linf_b", "laga", "lara", "lags", "lars"}
    assert all(with_procedure.values()), {k: v for k, v in with_procedure.items() if not v}
    reconstruction = {n for n, p in probes.items() if isinstance(p, LatentProbe) and p.source == "reconstruction"}
    assert reconstruction == {"lra", "lara", "lars"}
    for name in reconstruction:
        assert isinstance(probes[name].train_images, SameRankTrainingImages), name


def test_valid_image_experiment_is_robustlens_own(tmp_path: Path, shared: Path):
    cfg = _compose("buzhinsky2020_mnist_valid_images", tmp_path, shared)
    validate_config(cfg)
    probes = build_probes(cfg, num_classes=10)
    flags = {name: _faithful(p) for name, p in probes.items()}
    assert flags.pop("clean") is None
    assert flags and not any(flags.values()), flags
    assert not any(isinstance(p, LatentProbe) for p in probes.values())


@pytest.mark.parametrize("probe", ["lga", "lra", "clean"])
def test_faithful_where_no_authors_procedure_exists_is_refused(tmp_path: Path, shared: Path, probe: str):
    cfg = _compose("buzhinsky2020_mnist", tmp_path, shared, f"+evaluation.probes.{probe}.faithful=true")
    with pytest.raises(ConfigValidationError) as err:
        validate_config(cfg)
    message = str(err.value)
    assert f"probes.{probe}" in message and "faithful" in message
    assert "attack/severity_l2" in message and "probe/lags" in message  # names the probes that have one
