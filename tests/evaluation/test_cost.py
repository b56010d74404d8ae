"""What each probe cost: the pass counts of the hooks against attacks whose budget is known exactly.

Every probe pass of the evaluation also runs the classifier once per sample on the clean batch
(``ProbeContext.clean_logits``), and every attack's result is re-checked by one fresh forward pass
of the base class (``Attack.__call__``). So, per sample, with the hooks counting everything:

* FGSM: 1 gradient pass (forward + backward) + 1 verification + 1 clean = 3 forward, 1 backward;
* fixed-step PGD (``early_stop=False``), ``T`` steps, ``R`` restarts, on samples it never breaks:
  ``R·T`` gradient passes, ``R − 1`` end-of-restart checks (``PGD._run(check_end=True)`` on every
  restart but the last), 1 verification, 1 clean: ``R·T + R + 1`` forward and ``R·T`` backward.
  A sample broken in restart ``r`` is not restarted, so in general the backward passes equal the
  per-sample ``iterations`` PGD reports, summed;
* Paper A's faithful latent search: per code 1 decode+classify at the decayed code, its
  ``grad_evals`` evaluations (each a decode, a classification and one backward through both),
  1 fresh decode+classify of the result; plus the clean pass of the data batch.

The counts are per sample: batch size and a split over 2 DDP ranks do not change them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from robustlens.attacks.fgsm import FGSM
from robustlens.attacks.pgd import PGD
from robustlens.evaluation.attack_probe import AttackProbe
from robustlens.evaluation.console import cost_tables
from robustlens.evaluation.cost import (
    CostState,
    PassCounter,
    counting_passes,
    is_measured,
    job_cost,
    precision_of,
)
from robustlens.evaluation.latent_probes import LatentAdversarialProbe
from robustlens.evaluation.module import EvaluationModule
from robustlens.evaluation.probe import ProbeContext
from robustlens.evaluation.scalars import cost_scalars
from robustlens.models.generators.base import decay_factor
from tests.latent.helpers import LinearGenerator, nearest_offset_classifier
from tests.metrics.metric_tester import gloo_group, spawn_ranks

N, K, SIDE = 12, 3, 4


def separable_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, nn.Module]:
    """12 images of 3 classes, each near its class offset: a nearest-offset classifier is right
    on all of them with a margin far larger than the tiny budgets below."""
    gen = LinearGenerator(latent_dim=2, num_classes=K, side=SIDE, spread=0.8, seed=3, dtype=torch.float32)
    y = torch.arange(N) % K
    x = gen.offset.detach()[y].view(N, 1, SIDE, SIDE).clamp(0, 1)
    model = nearest_offset_classifier(gen).float()
    return x, y, torch.arange(N) + 100, model


def evaluate(probes: dict, model: nn.Module, batch_size: int, generator: nn.Module | None = None,
             data: tuple | None = None) -> dict:
    x, y, index, _ = separable_data() if data is None else data
    module = EvaluationModule(model, probes, generator=generator, num_classes=K)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, inference_mode=False, enable_checkpointing=False)
    metrics: dict = {}
    for name in probes:
        module.probe_name = name
        loader = DataLoader(TensorDataset(x, y, index), batch_size=batch_size)
        trainer.test(module, dataloaders=loader, verbose=False)
        metrics.update(module.last_pass.metrics)
        metrics[f"{name}/_table"] = module.last_pass.table
        metrics[f"{name}/_record"] = module.last_pass.cost_record
    return metrics


def pgd(steps: int, restarts: int, eps: float = 1e-4) -> PGD:
    return PGD(eps=eps, step_size=eps / 4, steps=steps, restarts=restarts, early_stop=False)


@pytest.mark.parametrize("batch_size", [4, 5, N])
def test_fgsm_and_fixed_step_pgd_cost_exactly_their_budget_per_sample(batch_size: int) -> None:
    x, y, _, model = data = separable_data()
    assert model(x).argmax(1).eq(y).all()
    probes = {"fgsm": AttackProbe(FGSM(eps=1e-4)), "pgd": AttackProbe(pgd(steps=5, restarts=1)),
              "pgd_r3": AttackProbe(pgd(steps=4, restarts=3))}
    m = evaluate(probes, model, batch_size, data=data)
    assert not m["pgd_r3/_table"]["success"].any()  # no sample broken: every restart runs on all
    assert (m["fgsm/cost/forward_per_sample"], m["fgsm/cost/backward_per_sample"]) == (3, 1)
    assert (m["pgd/cost/forward_per_sample"], m["pgd/cost/backward_per_sample"]) == (5 + 2, 5)
    assert (m["pgd_r3/cost/forward_per_sample"], m["pgd_r3/cost/backward_per_sample"]) == (3 * 4 + 3 + 1, 3 * 4)
    for name in probes:
        assert m[f"{name}/cost/samples"] == N
        assert m[f"{name}/cost/batch_size"] == batch_size
        assert m[f"{name}/cost/generator_forward_per_sample"] == 0
        assert m[f"{name}/cost/seconds"] > 0 and m[f"{name}/cost/peak_memory_mb"] > 0
        assert m[f"{name}/_record"]["device"] == "cpu" and m[f"{name}/_record"]["precision"] == "fp32"


def test_backward_passes_equal_pgds_own_iterations_when_restarts_skip_broken_samples() -> None:
    *_, model = data = separable_data()
    probes = {"pgd": AttackProbe(pgd(steps=3, restarts=3, eps=0.3))}  # breaks 6 of 12
    m = evaluate(probes, model, batch_size=5, data=data)
    table = m["pgd/_table"]
    assert 0 < table["success"].sum() < N
    assert m["pgd/cost/backward_per_sample"] * N == table["iterations"].sum()


def test_the_faithful_paper_a_search_costs_its_evaluations_plus_three_passes() -> None:
    gen = LinearGenerator(latent_dim=3, num_classes=K, side=SIDE, spread=0.8, seed=5, dtype=torch.float32)
    model = nearest_offset_classifier(gen).float()
    x, y, index, _ = separable_data()
    probe = LatentAdversarialProbe(mode="any", rho=2.0, steps=4, restarts=2, faithful=True, max_images=0)
    m = evaluate({"laga": probe}, model, batch_size=5, generator=gen, data=(x, y, index, model))
    codes = probe.codes((x, y, index), ProbeContext(seed=0, generator=gen))
    with torch.no_grad():  # every code is classified right at l_d, so every code is searched
        assert model(gen.decode(codes * decay_factor(probe.eps), y)).argmax(1).eq(y).all()
    evals = int(m["laga/_table"]["iterations"].sum())  # the search's own grad_evals per code
    assert m["laga/cost/backward_per_sample"] * N == pytest.approx(evals)
    assert m["laga/cost/generator_backward_per_sample"] * N == pytest.approx(evals)
    assert m["laga/cost/forward_per_sample"] * N == pytest.approx(evals + 3 * N)  # clean, l_d, result
    assert m["laga/cost/generator_forward_per_sample"] * N == pytest.approx(evals + 2 * N)


def test_hooks_count_samples_and_only_graphs_that_are_backpropagated() -> None:
    model = nn.Linear(3, 2)
    with counting_passes(model) as (counter, generator_counter):
        with torch.no_grad():
            model(torch.zeros(4, 3))
        x = torch.zeros(5, 3, requires_grad=True)
        torch.autograd.grad(model(x).sum(), x)
        model(torch.zeros(2, 3, requires_grad=True))  # a graph never backpropagated
    assert (counter.forward, counter.backward) == (4 + 5 + 2, 5)
    assert (generator_counter.forward, generator_counter.backward) == (0, 0)
    model(torch.zeros(1, 3))  # the hooks are gone after the context
    assert counter.forward == 11


def test_the_generators_decode_is_counted_and_restored() -> None:
    gen = LinearGenerator(latent_dim=2, num_classes=K, side=SIDE)
    original = gen.decode
    with counting_passes(nn.Identity(), gen) as (_, counter):
        z = torch.zeros(3, 2, dtype=torch.float64, requires_grad=True)
        torch.autograd.grad(gen.decode(z, torch.zeros(3, dtype=torch.long)).sum(), z)
    assert (counter.forward, counter.backward) == (3, 3)
    assert "decode" not in gen.__dict__ and gen.decode == original


def test_precision_is_the_probes_search_precision() -> None:
    bf16 = AttackProbe(FGSM(eps=0.1), precision="bf16")
    bf16.use_precision("fp32")  # the probe's own value wins over evaluation.precision
    default = AttackProbe(FGSM(eps=0.1))
    default.use_precision("tf32")
    assert precision_of(AttackProbe(FGSM(eps=0.1))) == "fp32"
    assert (precision_of(bf16), precision_of(default)) == ("bf16", "tf32")
    assert precision_of(LatentAdversarialProbe(precision="float32")) == "fp32"


def test_cost_state_sums_counts_and_maximises_seconds() -> None:
    state = CostState()
    state.update(4, PassCounter(12, 4), PassCounter(), 1.5, 10.0, 4)
    state.update(2, PassCounter(6, 2), PassCounter(2, 0), 0.5, 30.0, 2)
    out = state.compute()
    assert out["forward_per_sample"] == 3 and out["backward_per_sample"] == 1
    assert out["generator_forward_per_sample"] == pytest.approx(2 / 6)
    assert (out["seconds"], out["peak_memory_mb"], out["batch_size"], out["samples"]) == (1.5, 30.0, 4, 6)
    with pytest.warns(UserWarning, match="before the ``update``"):  # torchmetrics' own warning
        assert math.isnan(CostState().compute()["forward_per_sample"])


def test_job_totals_add_seconds_and_passes_and_keep_the_peak() -> None:
    metrics = {"a/cost/seconds": 1.0, "a/cost/forward_per_sample": 3.0, "a/cost/peak_memory_mb": 5.0,
               "b/cost/seconds": 2.0, "b/cost/forward_per_sample": 7.0, "b/cost/peak_memory_mb": 9.0,
               "a/accuracy": 0.5}
    totals = job_cost(metrics, ["a", "b"])
    assert totals == {"job/cost/seconds": 3.0, "job/cost/forward_per_sample": 10.0, "job/cost/peak_memory_mb": 9.0}
    assert job_cost({"a/accuracy": 1.0}, ["a"]) == {}
    assert cost_scalars({**metrics, **totals})["cost/job/seconds"] == 3.0
    assert "cost/a/forward_per_sample" in cost_scalars(metrics) and "a/accuracy" not in cost_scalars(metrics)


def test_only_seconds_and_peak_memory_of_a_cost_are_measured() -> None:
    """Comparisons of two runs skip exactly these: the counts of passes must still agree."""
    assert is_measured("pgd_linf/cost/seconds") and is_measured("job/cost/peak_memory_mb")
    assert not is_measured("pgd_linf/cost/forward_per_sample") and not is_measured("job/cost/samples")
    assert not is_measured("pgd_linf/seconds") and not is_measured("seconds")


def test_the_console_cost_table_fits_80_columns_and_names_the_device() -> None:
    from rich.console import Console

    metrics = {f"{p}/cost/{f}": 1.25 for p in ("pgd_linf", "fgsm", "job") for f in
               ("seconds", "forward_per_sample", "backward_per_sample", "peak_memory_mb")}
    records = {"pgd_linf": {"cost": {"device": "cpu", "precision": "fp32"}}}
    console = Console(width=80, record=True)
    for table in cost_tables(metrics, ["pgd_linf", "fgsm"], records):
        console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "device: cpu" in text and "job" in text and "backward" in text and "gen_forward" not in text


@pytest.mark.ddp
def test_two_ranks_count_the_same_passes_per_sample(tmp_path: Path) -> None:
    spawn_ranks(_rank_cost, (str(tmp_path),), preload=["torch", "torchmetrics", "robustlens.attacks.pgd"])
    one = evaluate({"pgd": AttackProbe(pgd(steps=3, restarts=2))}, separable_data()[3], batch_size=4)
    for rank in range(2):
        two = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert two["samples"] == N
        assert two["forward_per_sample"] == one["pgd/cost/forward_per_sample"] == 3 * 2 + 2 + 1
        assert two["backward_per_sample"] == one["pgd/cost/backward_per_sample"]


def _rank_cost(rank: int, world_size: int, port: int, out: str) -> None:
    """One rank's half of the samples through a PassCounter and a synced CostState."""
    with gloo_group(rank, world_size, port):
        _count_half(rank, world_size, Path(out))


def _count_half(rank: int, world_size: int, out: Path) -> None:
    x, y, index, model = separable_data()
    part = slice(rank, None, world_size)
    attack = pgd(steps=3, restarts=2)
    state = CostState()
    with counting_passes(model) as (counter, gen_counter):
        for start in range(0, len(index[part]), 3):
            rows = slice(start, start + 3)
            xs, ys = x[part][rows], y[part][rows]
            model(xs)  # the clean pass the evaluation gives every probe
            attack(model, xs, ys, index=index[part][rows])
    state.update(len(index[part]), counter, gen_counter, 0.1, 1.0, 3)
    (out / f"rank{rank}.json").write_text(json.dumps(state.compute()))


def test_the_cpu_memory_peak_is_reset_at_each_pass() -> None:
    """In a fresh process: a test process's own history (freed blocks still resident, other
    threads) would blur a 40 MiB step."""
    import subprocess
    import sys

    from tests.conftest import missing

    script = """
import numpy as np, torch
from robustlens.evaluation.cost import peak_memory_mb, reset_peak_memory
cpu = torch.device("cpu")
print(reset_peak_memory(cpu))
before = peak_memory_mb(cpu)
block = np.ones(40 * 2**20 // 8)  # 40 MiB, touched
during = peak_memory_mb(cpu)
del block
reset_peak_memory(cpu)
print(before, during, peak_memory_mb(cpu))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split("\n")
    if out[0] != "peak RSS":
        missing("/proc/self/clear_refs cannot reset the peak RSS here (not Linux?)")
    before, during, after = map(float, out[1].split())
    assert during >= before + 35
    assert after < during - 30  # a new window no longer holds the old peak


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_cuda_memory_peak_is_the_peak_allocated_since_the_reset() -> None:
    from robustlens.evaluation.cost import device_name, peak_memory_mb, reset_peak_memory

    cuda = torch.device("cuda", 0)
    block = torch.ones(64 * 2**20 // 4, device=cuda)  # 64 MiB
    del block
    assert reset_peak_memory(cuda) == "cuda peak allocated"
    assert peak_memory_mb(cuda) < 64
    block = torch.ones(32 * 2**20 // 4, device=cuda)
    assert 32 <= peak_memory_mb(cuda) < 64 + 32 and block.numel() == 8 * 2**20
    assert device_name(cuda).startswith("cuda:0 (")
