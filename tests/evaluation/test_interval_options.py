"""``evaluation.interval_level`` / ``interval_resamples`` / ``mean_interval`` reach every metric of
every probe (and the worst case); a wrong value stops the job with the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from robustlens.evaluation.building import ProbeConfigError, build_probes, interval_options
from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.intervals import IntervalOptions, wilson_interval
from tests.hydra_utils import compose_config


def test_defaults_and_overrides_reach_every_metric(tmp_path: Path) -> None:
    assert interval_options(compose_config("evaluate", [], tmp_path)) == IntervalOptions(seed=0)
    cfg = compose_config("evaluate", ["evaluation.interval_level=0.9", "evaluation.interval_resamples=200",
                                      "evaluation.mean_interval=bootstrap", "seed=7"], tmp_path)
    want = IntervalOptions(level=0.9, n_resamples=200, seed=7, means="bootstrap")
    probes = build_probes(cfg, 10)
    metrics = [m for p in probes.values() for m in p.metrics.values()]
    assert metrics and all(m.interval_options == want for m in metrics)
    accuracy = probes["clean"].metrics["accuracy"]
    labels = torch.tensor([0, 1, 2, 3])
    accuracy.update(ProbeOutput(index=torch.arange(4), labels=labels, preds=torch.tensor([0, 1, 2, 0])))
    out = accuracy.compute()
    assert (float(out["accuracy/ci_low"]), float(out["accuracy/ci_high"])) == pytest.approx(wilson_interval(3, 4, 0.9))


@pytest.mark.parametrize("override", ["evaluation.interval_level=95", "evaluation.mean_interval=normal",
                                      "evaluation.interval_resamples=0"])
def test_a_wrong_option_names_the_fix(tmp_path: Path, override: str) -> None:
    with pytest.raises(ProbeConfigError, match=r"set evaluation\.interval_level"):
        build_probes(compose_config("evaluate", [override], tmp_path), 10)
