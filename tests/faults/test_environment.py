"""Faults of the environment: a full disk, NaN/Inf from the networks, a DDP rank that dies, a compute node
without network (offline W&B)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from tests.conftest import missing
from tests.faults.helpers import EVAL_FAST, cli_env, metrics_of, same_metrics
from tests.hydra_utils import compose_config

pytestmark = pytest.mark.faults


# --- a full disk -----------------------------------------------------------------------------------------
def mount_small_tmpfs(mount: Path) -> None:
    """Mount a 2 MiB tmpfs at ``mount``, or skip saying why (root only) — fail under CI, which runs as root."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        missing(f"cannot mount a size-limited tmpfs here ({done.stderr.strip() or 'mount failed'}; needs root)")


@pytest.fixture
def small_filesystem(tmp_path: Path):
    """A 2 MiB tmpfs (root only); skipped with the reason where mounting is not allowed (failed under CI)."""
    mount = tmp_path / "small-fs"
    mount.mkdir()
    mount_small_tmpfs(mount)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path) -> None:
    with open(mount / "filler", "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
        except OSError:
            pass
    with open(mount / "filler-small", "wb", buffering=0) as handle:  # the last bytes too
        try:
            while True:
                handle.write(b"\0")
        except OSError:
            pass


@pytest.mark.slow
def test_a_full_disk_stops_with_the_path_and_keeps_earlier_results(
    small_filesystem: Path, tmp_path: Path, fault_checkpoint: Path, fault_ledger
) -> None:
    run = small_filesystem / "run"
    base = ["evaluate", f"ckpt_path={fault_checkpoint}", *EVAL_FAST, f"hydra.run.dir={run}"]
    first = subprocess.run([sys.executable, "-m", "robustlens", *base], cwd=tmp_path, env=cli_env(),
                           capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    earlier = (run / "results.json").read_text()
    _fill(small_filesystem)
    # the same job with one probe more must write: the disk is full
    again = subprocess.run([sys.executable, "-m", "robustlens", *base, "+probe@evaluation.probes.fgsm=fgsm"],
                           cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=600)
    output = again.stdout + again.stderr
    named = re.search(rf"cannot write {re.escape(str(run))}/\S+: No space left on device", output) is not None
    intact = (run / "results.json").read_text() == earlier and json.loads(earlier)["status"] == "complete"
    fault_ledger.record("full disk while writing results", recovered=again.returncode != 0 and named and intact,
                        lost=0 if intact else 1)
    assert again.returncode != 0
    assert named, output[-3000:]
    assert "the disk is full" in output
    assert intact


def test_write_text_atomic_on_a_full_disk_names_the_path_and_leaves_no_temp_file(
    small_filesystem: Path, fault_ledger
) -> None:
    from robustlens.utils.io import ResultsWriteError, write_text_atomic

    target = small_filesystem / "job" / "results.json"
    write_text_atomic(target, "{}")
    _fill(small_filesystem)
    with pytest.raises(ResultsWriteError, match=re.escape(str(target))) as caught:
        write_text_atomic(target, "x" * 100_000)
    fault_ledger.record("full disk in write_text_atomic", recovered=target.read_text() == "{}")
    assert "No space left on device" in str(caught.value)
    assert target.read_text() == "{}"
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


# --- NaN / Inf from the networks ---------------------------------------------------------------------------
class _Poisoned(nn.Module):
    """Wraps a classifier; replaces the logits of inputs number ``rows`` of every call with ``value``."""

    def __init__(self, net: nn.Module, value: float, rows: slice) -> None:
        super().__init__()
        self.net, self.value, self.rows = net, value, rows

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.net(x).clone()
        logits[self.rows] = self.value
        return logits


@pytest.mark.parametrize(("value", "rows", "kind"), [(float("nan"), slice(None), "NaN"), (float("inf"), slice(3, 5), "Inf")],
                         ids=["nan-everywhere", "inf-from-row-3"])
def test_non_finite_logits_stop_with_the_probe_and_first_sample_index(
    tmp_path: Path, fault_checkpoint: Path, fault_ledger, value: float, rows: slice, kind: str
) -> None:
    from hydra.utils import instantiate

    from robustlens.models.classifier_module import load_classifier_checkpoint
    from robustlens.tasks.evaluate import run_evaluation
    from robustlens.utils.finite import NonFiniteOutputError

    cfg = compose_config("evaluate", [f"ckpt_path={fault_checkpoint}", *EVAL_FAST], tmp_path)
    datamodule = instantiate(cfg.data)
    datamodule.setup("test")
    first_batch_index = next(iter(datamodule.test_dataloader()))[2]
    expected = int(first_batch_index[rows][0])
    classifier = _Poisoned(load_classifier_checkpoint(cfg.ckpt_path), value, rows)
    with pytest.raises(NonFiniteOutputError) as caught:
        run_evaluation(cfg, classifier, datamodule)
    message = str(caught.value)
    clear = f"probe clean: the classifier returned {kind}" in message and f"sample index {expected}" in message
    fault_ledger.record(f"{kind} logits from the classifier", recovered=clear)
    assert clear, message
    assert not (tmp_path / "probes" / "clean.json").exists()  # nothing poisoned was recorded as finished


def test_a_generator_returning_nan_stops_with_the_probe_and_first_sample_index(fault_ledger) -> None:
    from robustlens.evaluation.module import EvaluationModule
    from robustlens.evaluation.probe import Probe, ProbeContext
    from robustlens.metrics.base import ProbeOutput
    from robustlens.utils.finite import NonFiniteOutputError

    class NaNGenerator(nn.Module):
        latent_dim = 2

        def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            images = torch.zeros(len(z), 1, 4, 4)
            images[2:] = float("nan")
            return images

    class DecodeProbe(Probe):
        def run(self, model, batch, context: ProbeContext) -> ProbeOutput:
            x, y, index = batch
            images = context.generator.decode(torch.zeros(len(x), 2), y)
            return ProbeOutput(index=index, labels=y, preds=model(images).argmax(1))

    classifier = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    module = EvaluationModule(classifier, {"latent": DecodeProbe()}, generator=NaNGenerator(), num_classes=3)
    module.probe_name = "latent"
    batch = (torch.rand(5, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1]), torch.tensor([40, 41, 42, 43, 44]))
    with pytest.raises(NonFiniteOutputError, match="probe latent: the generator returned NaN") as caught:
        module.test_step(batch, 0)
    clear = "sample index 42" in str(caught.value)
    fault_ledger.record("NaN images from the generator", recovered=clear)
    assert clear, str(caught.value)


# --- a DDP rank that dies ----------------------------------------------------------------------------------
def _descendants(pid: int) -> list[int]:
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.ddp
def test_a_dead_ddp_rank_fails_its_job_with_a_message_the_sweep_goes_on_and_the_rerun_completes(
    tmp_path: Path, fault_checkpoint: Path, fault_ledger
) -> None:
    sweep = tmp_path / "sweep"
    command = ["evaluate", "--multirun", f"ckpt_path={fault_checkpoint}", *EVAL_FAST, "trainer=ddp_sim",
               "evaluation.probes.pgd_linf.attack.steps=200", "evaluation.probes.pgd_linf.attack.eps=0.05,0.1",
               f"hydra.sweep.dir={sweep}"]
    with open(tmp_path / "sweep.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                                stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 600
        child = None
        while child is None:  # the second rank of job 0, once job 0 has finished its first probe
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "sweep.log").read_text()[-3000:]
            if (sweep / "0" / "probes" / "clean.json").is_file():
                ranks = [p for p in _descendants(proc.pid) if "ddp_child" in _cmdline(p)]
                child = ranks[0] if ranks else None
            time.sleep(0.2)
        os.kill(child, 9)
        try:
            proc.wait(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the sweep hung after a rank died")
    job0 = json.loads((sweep / "0" / "results.json").read_text())
    job1 = json.loads((sweep / "1" / "results.json").read_text())
    failed_with_message = job0["status"] == "failed" and bool(job0["error"]["message"])
    rerun = subprocess.run([sys.executable, "-m", "robustlens", *command], cwd=tmp_path, env=cli_env(),
                           capture_output=True, text=True, timeout=900)
    completed = rerun.returncode == 0 and json.loads((sweep / "0" / "results.json").read_text())["status"] == "complete"
    job1_kept = json.loads((sweep / "1" / "results.json").read_text())["timing"] == job1["timing"]
    fault_ledger.record("a DDP rank killed mid-evaluation", recovered=failed_with_message and completed,
                        lost=0 if job1_kept else 1)
    assert proc.returncode == 0, "the sweep must go on after a failed job"
    assert failed_with_message, job0.get("error")
    assert job1["status"] == "complete", (job0.get("error"), job1.get("error"))
    assert completed, rerun.stderr[-3000:]
    assert job1_kept


# --- a compute node without network: offline W&B -----------------------------------------------------------
NO_NETWORK = "ip link set lo up && exec strace -f -qq -e trace=connect -o {trace} {python} -m robustlens {args}"


def require_network_namespace() -> None:
    """``unshare``, ``strace`` and ``ip`` present and a network namespace allowed, or skip saying which is
    not — fail under CI (``missing()``), where they must be."""
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found: cannot cut the network off / watch connections")
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        missing(f"cannot create a network namespace here ({probe.stderr.strip()}; needs root)")


@pytest.mark.slow
def test_wandb_stays_offline_without_network_and_the_run_is_complete_for_a_later_sync(
    tmp_path: Path, fault_ledger
) -> None:
    from robustlens.utils.wandb_records import find_run_files, logged_history

    require_network_namespace()
    run = tmp_path / "run"
    args = ["train", "logger=wandb", "trainer.max_epochs=2", "data.train_subset=200", "extras.print_config=false",
            "callbacks.rich_progress_bar=null", "callbacks.latent_report=null", f"hydra.run.dir={run}"]
    env = {**cli_env(), "WANDB_DIR": str(tmp_path)}
    env.pop("WANDB_MODE", None)  # the config's default must choose offline by itself (no key, no login)
    env.pop("WANDB_API_KEY", None)
    trace = tmp_path / "connect.trace"
    shell = NO_NETWORK.format(trace=trace, python=sys.executable, args=" ".join(args))
    done = subprocess.run(["unshare", "-n", "sh", "-c", shell], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    # no connection to anything but this machine was attempted (unix sockets and loopback: wandb's own service)
    attempts = [line for line in trace.read_text().splitlines() if "connect(" in line]
    remote = [line for line in attempts if ("AF_INET" in line and "127.0.0.1" not in line)
              or ("AF_INET6" in line and '"::1"' not in line)]
    files = find_run_files(run)
    history = logged_history(files[0]) if files else []
    logged = [row["val/accuracy"] for row in history if "val/accuracy" in row]
    final = metrics_of(run / "results.json")["val/accuracy"]
    offline = bool(files) and all("offline-run-" in str(f) for f in files)
    syncable = len(logged) == 2 and abs(logged[-1] - final) < 1e-6
    fault_ledger.record("compute node without network (logger=wandb)", recovered=offline and syncable and not remote)
    assert not remote, remote[:5]
    assert offline, files
    assert syncable, history
    assert same_metrics({"val/accuracy": final}, {"val/accuracy": logged[-1]})
