"""Paper B's RobustBench experiment: its model list exists in the installed zoo, and the experiment
runs end to end (evaluate jobs + the report layout) with two tiny random-weight stand-ins placed in
RobustBench's layout under the names of two of its models."""

from __future__ import annotations

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from robustlens.models.classifiers.sources import ModelSourceError
from robustlens.models.classifiers.sources.robustbench_source import import_robustbench, zoo_entries
from robustlens.tasks.report import run_report
from tests.conftest import missing
from tests.hydra_utils import REPO_ROOT
from tests.zoo.helpers import cifar_dir
from tests.zoo.tiny_nets import TinyMLP, TinyNet

try:
    import_robustbench()
except ModelSourceError as exc:
    missing(str(exc), module_level=True)

CONF = REPO_ROOT / "experiments" / "medi2024_classwise" / "conf"
EXPERIMENT = CONF / "experiment" / "medi2024_classwise_robustbench.yaml"
#: RobustBench names whose zoo constructors build the stand-ins in this test
STAND_INS = {"Standard": TinyNet, "Wong2020Fast": TinyMLP}


def test_the_swept_models_exist_in_the_installed_zoo():
    swept = OmegaConf.load(EXPERIMENT).hydra.sweeper.params["classifier.name"].split(",")
    assert len(swept) >= 5 and "Standard" in swept
    assert set(swept) <= set(zoo_entries("cifar10", "Linf"))


def test_experiment_runs_end_to_end_with_stand_ins(tmp_path, monkeypatch):
    from robustlens.tasks.common import task_wrapper
    from robustlens.tasks.evaluate import evaluate
    from tests.hydra_utils import compose_config

    data, _ = cifar_dir(tmp_path, n_test=20)
    model_dir = tmp_path / "models"
    (model_dir / "cifar10" / "Linf").mkdir(parents=True)
    entries = zoo_entries("cifar10", "Linf")
    for i, (name, cls) in enumerate(STAND_INS.items()):
        monkeypatch.setitem(entries, name, {**entries[name], "model": cls})
        torch.manual_seed(i)
        torch.save({"state_dict": cls().state_dict()}, model_dir / "cifar10" / "Linf" / f"{name}.pt")
    sweep = tmp_path / "sweep"
    for i, name in enumerate(STAND_INS):
        overrides = [
            f"hydra.searchpath=[file://{CONF}]", "experiment=medi2024_classwise_robustbench", f"classifier.name={name}",
            f"classifier.model_dir={model_dir}", f"paths.data_dir={data}", "data.eval_batch_size=20",
            "extras.print_config=false", "logger=none",
        ]
        payload = task_wrapper(evaluate)(compose_config("evaluate", overrides, sweep / str(i)))
        assert payload["status"] == "complete"
        metrics = payload["metrics"]
        assert {"pgd_eps2/accuracy", "pgd_targeted/accuracy", "pgd_eps2/cfps/3", "clean/classwise_accuracy/9"} <= set(metrics)
        assert any(key.startswith("c_gaussian_noise/") for key in metrics)  # the corruption probes ran
        assert payload["probes"]["pgd_eps2"]["attack"]["eps"] == pytest.approx(8 / 255)
    with initialize_config_dir(str(REPO_ROOT / "conf"), version_base="1.3"):
        cfg = compose("report", overrides=[f"run_dir={sweep}", f"hydra.searchpath=[file://{CONF}]",
                                           "layout=medi2024_classwise_robustbench"])
    summary = run_report(cfg)
    table = (sweep / "report" / "table.md").read_text()
    # RobustBench's published clean / AutoAttack accuracy first, then robustlens' measurements
    assert "| Standard | WideResNet-28-10 | standard | 0.948 | 0.000 |" in table
    assert "| Wong2020Fast | PreActResNet-18 | robust (Linf) | 0.833 | 0.432 |" in table
    assert (sweep / "report" / "cfps_pgd.md").is_file() and (sweep / "report" / "classwise_pgd.md").is_file()
    assert not summary["skipped_tables"], summary["skipped_tables"]
    plots = sorted(p.name for p in (sweep / "report" / "plots").glob("*.png"))
    assert "pgd_eps2_confusion_normalized_grid.png" in plots and "cfps_by_model.png" in plots
