"""Every device path of robustlens run on CUDA and compared with the CPU (``pytest -m gpu tests/gpu``).

Run by ``benchmarks/gpu_check.sh`` on a machine with a GPU; skipped, with the reason, where CUDA is
absent (CI has no GPU). Each test runs the same job twice, ``trainer=cpu`` and on the GPU, from the
same checkpoint and seed, and compares:

* **evaluation** (clean, PGD, AutoAttack, FMN, Gaussian noise, the natural perturbations, image
  severity, the six latent probes, the worst case, the class-wise metrics; then all 19 corruptions;
  then Paper B's class-wise evaluation with targeted PGD and the latent-space structure):
  the same metric keys, and every ``…/accuracy`` within ``ACCURACY_TOLERANCE`` (AutoAttack within
  ``AUTOATTACK_TOLERANCE``): CPU and CUDA kernels sum in different orders, so a search can step the
  other way at a near-tie, and AutoAttack's restarts draw from the device's random generator, which
  differs between CPU and CUDA. TF32 is off (``NVIDIA_TF32_OVERRIDE=0``), so fp32 is fp32 on both;
* **a training step** of each mode (standard, noise, PGD-AT, TRADES) and **a generator epoch**: the
  checkpoint's tensors are on CUDA (the fit really ran there), every logged loss within
  ``TRAINING_TOLERANCE`` (relative) and the overall accuracies within ``TRAINING_ACCURACY_TOLERANCE``
  of the CPU's (noise and random starts are drawn on the device, so the two fits see different noise);
* **DDP with the NCCL backend** on one rank (``trainer=ddp trainer.devices=1``), run as a user runs
  it (the ``robustlens`` command): ``world_size`` 1 and the CPU's metrics.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from robustlens.tasks.common import task_wrapper
from robustlens.tasks.evaluate import evaluate
from robustlens.tasks.train import train
from tests.hydra_utils import compose_config, run_cli

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (benchmarks/gpu_check.sh runs these)"),
]

#: robust accuracy, CPU vs CUDA: 0.05 = 3 of the 64 samples
ACCURACY_TOLERANCE = 0.05
#: AutoAttack's random restarts use the device's generator: 0.1 = 6 of 64 samples
AUTOATTACK_TOLERANCE = 0.1
#: losses after two training batches, relative (noise and PGD-AT draw their noise on the device)
TRAINING_TOLERANCE = 0.1
#: overall train/val accuracies after two batches, absolute (per-class ones are not compared: too few samples)
TRAINING_ACCURACY_TOLERANCE = 0.1

QUIET = ["extras.print_config=false", "logger=none"]
#: evaluations need no callbacks (training keeps its ModelCheckpoint: the checkpoint is compared)
NO_CALLBACKS = ["callbacks=none"]
GPU = ["trainer=gpu"]
SMALL_SEARCHES = [f"evaluation.probes.{p}.{k}={v}" for p in ("laga", "lara", "lags", "lars")
                  for k, v in (("steps", 5), ("restarts", 2))]
SMALL_SEARCHES += [f"evaluation.probes.{p}.min_steps=10" for p in ("lags", "lars")]
#: the probe kinds an evaluation=latent run lacks
EXTRA_PROBES = [f"+probe@evaluation.probes.{name}={name}"
                for name in ("fmn_linf", "rotation", "translation", "scaling", "brightness", "contrast")]
EVALUATION = [
    "evaluation=latent", "data.test_subset=64", "evaluation.probes.pgd_linf.attack.steps=10",
    "evaluation.probes.fmn_linf.attack.steps=20", "evaluation.probes.severity_l2.attack.restarts=1",
    "evaluation.probes.severity_linf.attack.restarts=1", *SMALL_SEARCHES, *EXTRA_PROBES,
]
EXTRA_CORRUPTIONS = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
CORRUPTIONS = ["evaluation=corruptions", "data.test_subset=32",
               *[f"+probe@evaluation.probes.c_{n}=corruption" for n in EXTRA_CORRUPTIONS],
               *[f"evaluation.probes.c_{n}.attack.name={n}" for n in EXTRA_CORRUPTIONS]]


@pytest.fixture(scope="module", autouse=True)
def fp32_is_fp32():
    """No TF32 on either side of a comparison (in this process and in the ``robustlens`` subprocesses)."""
    previous = os.environ.get("NVIDIA_TF32_OVERRIDE"), torch.backends.cudnn.allow_tf32
    os.environ["NVIDIA_TF32_OVERRIDE"] = "0"
    torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32 = previous[1]
    if previous[0] is None:
        os.environ.pop("NVIDIA_TF32_OVERRIDE", None)
    else:
        os.environ["NVIDIA_TF32_OVERRIDE"] = previous[0]


def _run(task, config: str, overrides: list[str], out: Path) -> dict:
    payload = task_wrapper(task)(compose_config(config, [*QUIET, *overrides], out))
    assert payload["status"] == "complete", payload.get("error")
    return payload


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A SmallCNN and a conditional VAE, each trained briefly on the built-in digits (on the CPU)."""
    out = tmp_path_factory.mktemp("train")
    classifier = _run(train, "train", ["trainer.max_epochs=2"], out / "classifier")
    generator = _run(train, "train", ["task=generator", "generator=cvae", "trainer.max_epochs=1",
                                      "+trainer.limit_train_batches=10"], out / "generator")
    return {"classifier": Path(classifier["checkpoints"]["last"]), "generator": Path(generator["checkpoints"]["last"])}


def _assert_accuracies_agree(cpu: dict, gpu: dict) -> None:
    assert set(cpu) == set(gpu)
    accuracies = [k for k, v in cpu.items() if k.endswith("/accuracy") and isinstance(v, float)]
    assert accuracies, "no accuracy to compare"
    for key in accuracies:
        # the worst case includes AutoAttack's verdicts
        tolerance = AUTOATTACK_TOLERANCE if key.startswith(("autoattack/", "worst_case/")) else ACCURACY_TOLERANCE
        assert gpu[key] == pytest.approx(cpu[key], abs=tolerance), key


#: Paper B's class-wise evaluation: targeted PGD to every class, error flow, the latent-space structure
CLASSWISE = ["evaluation=classwise", "data.test_subset=64"]


@pytest.mark.parametrize("probes", [EVALUATION, CORRUPTIONS, CLASSWISE], ids=["probes", "corruptions", "classwise"])
def test_every_probe_kind_on_cuda_agrees_with_the_cpu(tmp_path: Path, checkpoints: dict[str, Path], probes) -> None:
    job = [f"ckpt_path={checkpoints['classifier']}", f"generator_ckpt_path={checkpoints['generator']}",
           *NO_CALLBACKS, *probes]
    cpu = _run(evaluate, "evaluate", job, tmp_path / "cpu")["metrics"]
    gpu = _run(evaluate, "evaluate", [*job, *GPU], tmp_path / "gpu")["metrics"]
    _assert_accuracies_agree(cpu, gpu)
    if "evaluation=latent" in probes:
        for key in ("worst_case/accuracy", "lags/accuracy", "fmn_linf/accuracy", "clean/classwise_accuracy/0"):
            assert key in gpu, key


def _assert_trained_on_cuda_like_the_cpu(cpu: dict, gpu: dict) -> None:
    checkpoint = torch.load(gpu["checkpoints"]["last"], weights_only=False)  # tensors keep their device
    assert all(t.is_cuda for t in checkpoint["state_dict"].values()), "the fit did not run on the GPU"
    scalars = {k: v for k, v in cpu["metrics"].items() if isinstance(v, float) and not k.rsplit("/", 1)[-1].isdigit()}
    assert any("loss" in key for key in scalars), sorted(scalars)
    for key, value in scalars.items():
        if "accuracy" in key:
            assert gpu["metrics"][key] == pytest.approx(value, abs=TRAINING_ACCURACY_TOLERANCE), key
        else:
            assert gpu["metrics"][key] == pytest.approx(value, rel=TRAINING_TOLERANCE, abs=1e-3), key


@pytest.mark.parametrize("mode", ["standard", "noise", "pgd_at_fast", "trades_fast"])
def test_a_training_step_of_each_mode_runs_on_cuda(tmp_path: Path, mode: str) -> None:
    job = [f"training={mode}", "trainer.max_epochs=1", "+trainer.limit_train_batches=2", "+trainer.limit_val_batches=1"]
    cpu = _run(train, "train", job, tmp_path / "cpu")
    gpu = _run(train, "train", [*job, *GPU], tmp_path / "gpu")
    _assert_trained_on_cuda_like_the_cpu(cpu, gpu)


def test_a_generator_epoch_runs_on_cuda(tmp_path: Path) -> None:
    job = ["task=generator", "generator=cvae", "trainer.max_epochs=1", "+trainer.limit_train_batches=5"]
    cpu = _run(train, "train", job, tmp_path / "cpu")
    gpu = _run(train, "train", [*job, *GPU], tmp_path / "gpu")
    _assert_trained_on_cuda_like_the_cpu(cpu, gpu)


def test_an_evaluation_through_ddp_with_nccl_on_one_rank(tmp_path: Path, checkpoints: dict[str, Path]) -> None:
    job = [f"ckpt_path={checkpoints['classifier']}", "data.test_subset=64", "extras.print_config=false",
           "callbacks=none", "evaluation.probes.pgd_linf.attack.steps=10"]
    runs = {}
    for name, trainer in (("cpu", "trainer=cpu"), ("ddp", "trainer=ddp")):
        extra = ["trainer.devices=1"] if name == "ddp" else []
        result = run_cli(["evaluate", *job, trainer, *extra, f"hydra.run.dir={tmp_path / name}"], tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
        runs[name] = json.loads((tmp_path / name / "results.json").read_text())
    assert runs["ddp"]["world_size"] == 1
    assert runs["ddp"]["config"]["trainer"]["strategy"]["process_group_backend"] == "nccl"
    _assert_accuracies_agree(runs["cpu"]["metrics"], runs["ddp"]["metrics"])


def test_compiled_pgd_with_cuda_graphs_equals_eager_pgd(tmp_path: Path) -> None:
    """evaluation.compile=reduce-overhead: Inductor kernels replayed as CUDA graphs, the eager verdicts."""
    from robustlens.attacks.pgd import PGD
    from robustlens.evaluation.compiled import compile_classifier
    from robustlens.models.classifiers import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(hidden=32, channels=8).cuda().eval()
    x = torch.rand(64, 1, 28, 28, device="cuda")
    y = torch.randint(0, 10, (64,), device="cuda")
    index = torch.arange(64, device="cuda")
    attack = PGD(0.1, 0.02, 10, early_stop=False)
    eager = attack(model, x, y, index=index)
    compiled = attack(compile_classifier(model, "reduce-overhead"), x, y, index=index)
    assert (compiled.success == eager.success).float().mean() >= 0.95
    torch.testing.assert_close(compiled.logits, eager.logits, rtol=1e-3, atol=1e-3)
