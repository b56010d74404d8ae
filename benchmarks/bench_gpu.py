"""robustlens on a GPU, in one run and one JSON: the compute limit, each precision, the reference tools.

Command (from the repository root; ``benchmarks/gpu_check.sh`` runs it with the ``gpu`` tests)::

    ROBUSTLENS_SHARED_DIR=../shared PYTHONPATH=src python benchmarks/bench_gpu.py \\
        --device cuda --out outputs/bench_gpu.json          # one GPU: ≤ 8 minutes (--budget-s)
    PYTHONPATH=src python benchmarks/bench_gpu.py --device cpu --small --out outputs/bench_gpu_small.json

Rows (``rows`` of the JSON, each ``{"row", "group", "model", "tool", "precision", "batch", "steps",
"seconds", "images_per_s", "robust_accuracy", "ratio_to_bare", "ratio_to_reference", "gpu_utilisation",
"skipped", "error", ...}``; ``expected_rows`` lists every row name a run writes, measured or not):

* ``bare/<model>/<variant>``: the compute limit, a bare PGD-L∞ loop (forward, CE, gradient w.r.t. the
  input, sign step, projection: nothing else) with ``--steps`` steps, in fp32 (TF32 off), TF32, bf16
  and fp16 autocast, and bf16 + channels_last; WideResNet-28-10 and PreAct-ResNet-18 of
  ``robustlens.models.classifiers`` with random weights on random CIFAR-shaped inputs (``--small``:
  WideResNet-10-1 stands in for 28-10);
* ``pgd|apgd_ce|fmn|autoattack/<model>/robustlens/<precision>``: robustlens' attacks on the same
  inputs at each precision (``--precisions``); the precision goes to the attack as ``precision=``
  where its constructor takes one (``inspect.signature``), else the whole call runs under the
  precision's autocast / TF32 setting (``precision_via`` says which); ``ratio_to_bare`` = images/s
  over the bare loop's at the same precision (PGD, APGD and FMN do one forward+backward per step);
* ``pgd/<model>/torchattacks/fp32`` and ``autoattack/<model>/pyautoattack/fp32``: the reference tools
  on the same inputs; ``ratio_to_reference`` of a robustlens row = its images/s over torchattacks'
  (PGD) or pyautoattack's (AutoAttack) fp32;
* ``apgd_noexit/wrn-28-10/<apgd_ce|apgd_t>/<tool>/<precision>``: APGD-CE and APGD-T (one target
  class) with the early exit off: every point for all ``--apgd-steps`` iterations (the reference's
  ``attack_single_run``; random weights break every point at once, so ``perturb`` would skip them):
  robustlens at each precision vs pyautoattack fp32;
* ``mnist_autoattack/both/robustlens/<fp32|bf16>``: AutoAttack standard (ε = 0.3) on Paper A's
  published ``both`` MNIST classifier (``--shared-dir``), seconds and robust accuracy; the bf16 row
  also gives ``robust_accuracy_difference_points`` and ``identical_verdicts`` against fp32;
* ``compile/mnist_both/pgd/<none|default|reduce-overhead>``: ``evaluation.compile`` on a launch-bound
  model: ``compile_seconds`` (first call) apart from the steady-state ``seconds`` (``--small``: the
  ``aot_eager`` backend, as Inductor takes minutes on a CPU);
* ``sweep_batching/mnist_arch0/<sequential|vmap>``: whether evaluating a sweep's same-architecture
  classifiers (Paper A's five arch-0 models) in one batched pass (``torch.func`` stacked weights +
  ``vmap``) pays over one pass per model: forward+backward images/s of both;
* ``jobs/<paper_a_table|lags_faithful|lags_default>``: whole ``robustlens evaluate`` jobs (Paper A's
  MNIST table, N = 600, five classifiers, and LAGS alone on ``plain``: ``classifier.mode=plain`` and
  every other probe ``=null``), wall ``seconds``, each job's ``job_seconds`` and the table's headline
  metrics per classifier; ``--job-overrides`` appends Hydra overrides (skipped with ``--small``).

GPU utilisation (``gpu_utilisation``: mean/median/max % and sample count, NVML every 50 ms in a thread,
else ``nvidia-smi``) is sampled during each row on CUDA and is ``null`` on the CPU. The JSON is
rewritten after every row, so a run stopped by its budget keeps what it measured; a row that fails
records its error and the run goes on.

``--only cifar,mnist_autoattack,jobs,compile,sweep_batching`` runs some groups of rows alone (in
that order, the issue's targets first). Estimated from the issue's H200 figures, every row at the
default sizes takes about 12 minutes (Paper A's table alone was 271 s): within ``--budget-s`` 450 the
rows after the budget are written as skipped; run ``--only jobs,compile,sweep_batching`` in a second
call for them.

Measured: **the GPU rows were not measured in this session (no GPU was lent)**; run
``benchmarks/gpu_check.sh`` on a GPU machine for them. The CPU smoke run, ``--device cpu --small`` on
the 2-core dev machine (torch 2.14.1, load ≈ 10 from other jobs), 2026-12-05, writes every row in
39 s (``tests/benchmarks/test_bench_gpu_smoke.py`` runs it in CI); its figures are smoke, not
measurements. Sweep batching on that CPU (one thread, Paper A's five arch-0 classifiers, ``--only
sweep_batching --steps 5|20``), seconds for one-model-at-a-time vs vmap over stacked weights:

| images per model | steps | sequential | vmap | vmap speed-up |
|---|---|---|---|---|
| 10 | 20 | 3.26 | 2.70 | 1.21× |
| 100 | 5 | 5.21 | 5.33 | 0.98× |
| 500 | 5 | 26.7 | 43.7 | 0.61× |

so on a CPU batching the classifiers of a sweep pays only at tiny batches and was not built into the
evaluation; the GPU rows decide whether it pays where passes are launch-bound.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import inspect
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch import Tensor, nn

REPO = Path(__file__).resolve().parents[1]
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
CIFAR_EPS = 8 / 255
#: the headline metrics of Paper A's table kept in the job rows (``<probe>/<metric>``)
TABLE_METRICS = ("accuracy", "noise_accuracy", "severity")
#: the row groups (``--only``)
GROUPS = ("cifar", "mnist_autoattack", "jobs", "compile", "sweep_batching")


# ------------------------------------------------------------------------------------------- settings
@contextlib.contextmanager
def precision(name: str, device: torch.device) -> Iterator[None]:
    """fp32 with TF32 off, TF32 on, or bf16/fp16 autocast (TF32 off) around the block."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    try:
        if name in AUTOCAST:
            with torch.autocast(device_type=device.type, dtype=AUTOCAST[name]):
                yield
        else:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def make_attack(cls: type, kwargs: dict[str, Any], precision_name: str) -> tuple[Any, str]:
    """``cls(**kwargs, precision=...)`` where the attack takes a precision, else the attack alone."""
    if "precision" in inspect.signature(cls).parameters:
        return cls(**kwargs, precision=precision_name), "attack"
    return cls(**kwargs), "autocast around the call"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Utilisation:
    """GPU utilisation sampled in a thread while the block runs (``None`` off CUDA)."""

    def __init__(self, device: torch.device, interval_s: float = 0.05):
        self.device, self.interval_s = device, interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._read: Callable[[], float] | None = None

    def _reader(self) -> Callable[[], float] | None:
        index = self.device.index or 0
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except Exception:
            command = ["nvidia-smi", f"--id={index}", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
            return lambda: float(subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()[0])

    def __enter__(self) -> Utilisation:
        if self.device.type == "cuda":
            self._read = self._reader()
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(Exception):
                self.samples.append(self._read())
            self._stop.wait(self.interval_s)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def summary(self) -> dict[str, float] | None:
        if self.device.type != "cuda" or not self.samples:
            return None
        return {"mean": statistics.fmean(self.samples), "median": statistics.median(self.samples),
                "max": max(self.samples), "samples": len(self.samples)}


# --------------------------------------------------------------------------------------------- report
class Report:
    """The JSON of the run, rewritten (atomically) after every row."""

    def __init__(self, path: Path, meta: dict[str, Any], budget_s: float):
        self.path, self.meta, self.budget_s = path, meta, budget_s
        self.rows: list[dict[str, Any]] = []
        self.expected: list[str] = []
        self.started = time.monotonic()

    def left_s(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def expect(self, *names: str) -> None:
        self.expected.extend(n for n in names if n not in self.expected)

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        self.expect(row["row"])
        self.rows.append(row)
        self.write()
        status = row.get("error") or row.get("skipped") or f"{row.get('seconds', 0):.2f} s"
        print(f"{row['row']:55s} {status}", flush=True)
        return row

    def write(self) -> None:
        payload = {**self.meta, "elapsed_s": round(time.monotonic() - self.started, 1),
                   "expected_rows": self.expected, "rows": self.rows}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1, default=float))
        os.replace(tmp, self.path)

    def find(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.rows if r["row"] == name and r.get("seconds")), None)


def measure(report: Report, device: torch.device, row: dict[str, Any], fn: Callable[[], dict[str, Any]],
            min_left_s: float = 0.0) -> dict[str, Any]:
    """Run ``fn`` (returns extra facts, e.g. robust accuracy) timed and sampled; record the row."""
    row = {"group": row["row"].split("/")[0], **row}
    if report.left_s() < min_left_s:
        return report.add({**row, "skipped": f"the run's budget (--budget-s {report.budget_s:.0f}) is spent"})
    try:
        synchronize(device)
        with Utilisation(device) as utilisation:
            start = time.perf_counter()
            facts = fn() or {}
            synchronize(device)
            seconds = time.perf_counter() - start
        row.update(seconds=seconds, gpu_utilisation=utilisation.summary(), **facts)
        if row.get("batch"):
            row["images_per_s"] = row["batch"] / seconds
    except Exception as exc:  # one failing row must not lose the others
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
    return report.add(row)


# --------------------------------------------------------------------------------------------- models
def cifar_models(small: bool) -> dict[str, Callable[[], nn.Module]]:
    """The two CIFAR architectures; ``--small``: WideResNet-10-1 stands in for both (a smoke run on a CPU)."""
    from robustlens.models.classifiers.cifar import PreActResNet18, WideResNet

    if small:
        return {name: functools.partial(WideResNet, depth=10, widen_factor=1) for name in ("wrn-28-10", "preact-resnet-18")}
    return {"wrn-28-10": functools.partial(WideResNet, depth=28, widen_factor=10), "preact-resnet-18": PreActResNet18}


def random_cifar(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(0)
    return (torch.rand(n, 3, 32, 32, generator=gen).to(device),
            torch.randint(0, 10, (n,), generator=gen).to(device))


def bare_pgd(model: nn.Module, x: Tensor, y: Tensor, steps: int, eps: float = CIFAR_EPS) -> Tensor:
    """The compute limit of a PGD-L∞ step: nothing but the forward, the loss, the input gradient, the step."""
    x_adv = x.clone()
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = nn.functional.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.minimum(torch.maximum(x_adv.detach() + eps / 4 * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def robust_accuracy(model: nn.Module, x_adv: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float(model(x_adv.float()).argmax(1).eq(y).float().mean())


# ----------------------------------------------------------------------------------------------- rows
def bare_rows(report: Report, device: torch.device, name: str, model: nn.Module, x: Tensor, y: Tensor,
              args: argparse.Namespace) -> None:
    variants = [(p, p, False) for p in args.precisions] + [("bf16_channels_last", "bf16", True)]
    for variant, prec, channels_last in variants:
        net = model.to(memory_format=torch.channels_last) if channels_last else model
        inputs = x.contiguous(memory_format=torch.channels_last) if channels_last else x
        with precision(prec, device):
            with contextlib.suppress(Exception):
                bare_pgd(net, inputs, y, 1)  # warm-up: kernel selection, allocator
            measure(report, device, {"row": f"bare/{name}/{variant}", "model": name, "tool": "bare",
                                     "precision": prec, "channels_last": channels_last, "batch": len(x),
                                     "steps": args.steps},
                    lambda net=net, inputs=inputs: {"robust_accuracy": robust_accuracy(
                        net, bare_pgd(net, inputs, y, args.steps), y)})
        model.to(memory_format=torch.contiguous_format)


def robustlens_rows(report: Report, device: torch.device, name: str, model: nn.Module, x: Tensor, y: Tensor,
                    args: argparse.Namespace) -> None:
    from robustlens.attacks.autoattack import APGDCE, AutoAttack
    from robustlens.attacks.fmn import FMN
    from robustlens.attacks.pgd import PGD

    index = torch.arange(len(x), device=device)
    attacks = {
        "pgd": (PGD, {"eps": CIFAR_EPS, "step_size": CIFAR_EPS / 4, "steps": args.steps, "early_stop": False}),
        "apgd_ce": (APGDCE, {"eps": CIFAR_EPS, "steps": args.steps}),
        "fmn": (FMN, {"norm": "linf", "steps": args.steps}),
        # --small: ε = 1 breaks every point in APGD-CE's first run, so the smoke run skips the other components
        "autoattack": (AutoAttack, {"eps": 1.0 if args.small else CIFAR_EPS, "batch_size": len(x)}),
    }
    for kind, (cls, kwargs) in attacks.items():
        for prec in args.precisions:
            def run(cls=cls, kwargs=kwargs, prec=prec) -> dict[str, Any]:
                attack, via = make_attack(cls, kwargs, prec)
                context = precision(prec, device) if via != "attack" else contextlib.nullcontext()
                with context:
                    result = attack(model, x, y, index=index)
                return {"robust_accuracy": float((~result.success).float().mean()), "precision_via": via}

            measure(report, device, {"row": f"{kind}/{name}/robustlens/{prec}", "model": name, "tool": "robustlens",
                                     "precision": prec, "batch": len(x), "steps": args.steps}, run)


def reference_rows(report: Report, device: torch.device, name: str, model: nn.Module, x: Tensor, y: Tensor,
                   args: argparse.Namespace) -> None:
    def torchattacks_pgd() -> dict[str, Any]:
        import torchattacks

        attack = torchattacks.PGD(model, eps=CIFAR_EPS, alpha=CIFAR_EPS / 4, steps=args.steps, random_start=True)
        with precision("fp32", device):
            return {"robust_accuracy": robust_accuracy(model, attack(x, y), y)}

    def pyautoattack_standard() -> dict[str, Any]:
        import pyautoattack

        eps = 1.0 if args.small else CIFAR_EPS  # as robustlens' AutoAttack rows
        attack = pyautoattack.AutoAttack(model, eps=eps, norm="Linf", version="standard", device=device)
        attack.verbose = False  # its progress lines would drown the table
        with precision("fp32", device):
            out = attack.run_standard_evaluation(x, y, batch_size=len(x))
        x_adv = out[0] if isinstance(out, tuple) else out  # (adversarial inputs, robust flags) in 0.2.0
        return {"robust_accuracy": robust_accuracy(model, x_adv, y)}

    measure(report, device, {"row": f"pgd/{name}/torchattacks/fp32", "model": name, "tool": "torchattacks",
                             "precision": "fp32", "batch": len(x), "steps": args.steps}, torchattacks_pgd)
    measure(report, device, {"row": f"autoattack/{name}/pyautoattack/fp32", "model": name, "tool": "pyautoattack",
                             "precision": "fp32", "batch": len(x)}, pyautoattack_standard)


def apgd_single_run(model: nn.Module, x: Tensor, y: Tensor, attack: Any, kind: str, precision_name: str,
                    device: torch.device) -> dict[str, Any]:
    """The reference's ``attack_single_run`` on every point (no early exit), under ``precision_name``."""
    reference = attack.reference(model, device) if kind == "apgd_ce" else attack.reference(model, device, 10)
    reference.init_hyperparam(x)
    with precision(precision_name, device):
        if kind == "apgd_t":
            with torch.no_grad():
                reference.y_target = model(x).sort(dim=1)[1][:, -2]  # the most likely other class
        _, robust, _, _ = reference.attack_single_run(x, y)
    return {"robust_accuracy": float(robust.float().mean())}


def apgd_noexit_rows(report: Report, device: torch.device, model: nn.Module, args: argparse.Namespace) -> None:
    """APGD-CE / APGD-T (1 target class) on every point for all iterations, robustlens vs pyautoattack.

    The single run bypasses the adapter's ``perturb``, so the precision is applied around it here
    (``precision_via`` still says whether the attack itself takes a precision).
    """
    from robustlens.attacks.autoattack import APGDCE, APGDT

    x, y = random_cifar(args.apgd_batch, device)
    for kind, cls, extra in (("apgd_ce", APGDCE, {}), ("apgd_t", APGDT, {"target_classes": 1})):
        base = {"eps": CIFAR_EPS, "steps": args.apgd_steps, **extra}
        row = {"model": "wrn-28-10", "batch": len(x), "steps": args.apgd_steps}
        for prec in args.precisions:
            attack, via = make_attack(cls, base, prec)
            measure(report, device, {**row, "row": f"apgd_noexit/wrn-28-10/{kind}/robustlens/{prec}",
                                     "tool": "robustlens", "precision": prec, "precision_via": via},
                    functools.partial(apgd_single_run, model, x, y, attack, kind, prec, device))
        measure(report, device, {**row, "row": f"apgd_noexit/wrn-28-10/{kind}/pyautoattack/fp32",
                                 "tool": "pyautoattack", "precision": "fp32"},
                functools.partial(apgd_single_run, model, x, y, cls(**base), kind, "fp32", device))


def load_mnist(shared: Path, n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    import numpy as np

    from robustlens.data.idx import read_idx

    raw = shared / "data" / "MNIST" / "raw"
    images = read_idx(raw / "t10k-images-idx3-ubyte.gz")[:n].reshape(-1, 1, 28, 28)
    labels = read_idx(raw / "t10k-labels-idx1-ubyte.gz")[:n]
    return (torch.from_numpy(images.astype(np.float32) / 255.0).to(device),
            torch.from_numpy(labels.astype(np.int64)).to(device))


def paper_a_classifier(shared: Path, mode: str, device: torch.device) -> nn.Module:
    from robustlens.models.classifiers import load_buzhinsky_classifier

    return load_buzhinsky_classifier(str(shared / "models" / "buzhinsky2020-mnist"), mode, 0).to(device).eval()


def mnist_autoattack_rows(report: Report, device: torch.device, args: argparse.Namespace) -> None:
    from robustlens.attacks.autoattack import AutoAttack

    names = [f"mnist_autoattack/both/robustlens/{p}" for p in ("fp32", "bf16")]
    missing = _missing_shared(args.shared_dir)
    if missing:
        for name in names:
            report.add({"row": name, "group": "mnist_autoattack", "skipped": missing})
        return
    model = paper_a_classifier(args.shared_dir, "both", device)
    x, y = load_mnist(args.shared_dir, args.mnist_n, device)
    verdicts: dict[str, Tensor] = {}
    for prec, name in zip(("fp32", "bf16"), names, strict=True):
        def run(prec=prec) -> dict[str, Any]:
            attack, via = make_attack(AutoAttack, {"eps": 0.3, "batch_size": len(x)}, prec)
            context = precision(prec, device) if via != "attack" else contextlib.nullcontext()
            with context:
                result = attack(model, x, y, index=torch.arange(len(x), device=device))
            verdicts[prec] = result.success.cpu()
            facts = {"robust_accuracy": float((~result.success).float().mean()), "precision_via": via}
            if prec != "fp32" and "fp32" in verdicts:
                facts["identical_verdicts"] = float(verdicts[prec].eq(verdicts["fp32"]).float().mean())
                facts["robust_accuracy_difference_points"] = 100 * float(
                    verdicts["fp32"].float().mean() - verdicts[prec].float().mean())
            return facts

        measure(report, device, {"row": name, "model": "paper_a_both", "tool": "robustlens", "precision": prec,
                                 "batch": len(x)}, run)


def compile_rows(report: Report, device: torch.device, args: argparse.Namespace) -> None:
    """``evaluation.compile`` on Paper A's small MNIST classifier (launch-bound on a GPU)."""
    from robustlens.attacks.pgd import PGD
    from robustlens.evaluation.compiled import compile_classifier

    modes = ("none", "default", "reduce-overhead")
    names = [f"compile/mnist_both/pgd/{m}" for m in modes]
    missing = _missing_shared(args.shared_dir)
    if missing:
        for name in names:
            report.add({"row": name, "group": "compile", "skipped": missing})
        return
    backend = "aot_eager" if args.small else "inductor"
    x, y = load_mnist(args.shared_dir, args.mnist_n, device)
    attack = PGD(0.3, 0.01, args.steps, early_stop=False)
    index = torch.arange(len(x), device=device)
    for mode, name in zip(modes, names, strict=True):
        holder: dict[str, float] = {}

        def run(mode=mode, holder=holder) -> dict[str, Any]:
            torch._dynamo.reset()  # each mode compiles afresh: no cache entry of the previous row
            model = compile_classifier(paper_a_classifier(args.shared_dir, "both", device), mode, backend)
            start = time.perf_counter()
            attack(model, x, y, index=index)  # the first call compiles (or records the graphs)
            synchronize(device)
            holder["compile_seconds"] = time.perf_counter() - start
            return {"robust_accuracy": float((~attack(model, x, y, index=index).success).float().mean())}

        row = measure(report, device, {"row": name, "model": "paper_a_both", "tool": "robustlens", "precision": "fp32",
                                       "batch": len(x), "steps": args.steps, "backend": backend}, run)
        if row.get("seconds"):  # the steady state excludes the first (compiling) call
            row["seconds"] -= holder["compile_seconds"]
            row["compile_seconds"] = holder["compile_seconds"]
            row["images_per_s"] = len(x) / row["seconds"]
            report.write()


def sweep_batching_rows(report: Report, device: torch.device, args: argparse.Namespace) -> None:
    """Five same-architecture classifiers: one forward+backward each, or one batched pass over stacked weights."""
    from torch.func import functional_call, stack_module_state, vmap

    from robustlens.models import cpu_conv
    from robustlens.models.classifiers.buzhinsky import MNISTNet

    missing = _missing_shared(args.shared_dir)
    modes = ("oneepoch", "plain", "conventional", "robust", "both")
    if missing:  # random weights time the same
        models = [MNISTNet(0).to(device).eval() for _ in modes]
    else:
        models = [paper_a_classifier(args.shared_dir, m, device) for m in modes]
    x = torch.rand(args.mnist_n, 1, 28, 28, device=device)
    y = torch.randint(0, 10, (args.mnist_n,), device=device)
    params, buffers = stack_module_state(models)
    skeleton = models[0]

    def one(p: dict, b: dict, inputs: Tensor) -> Tensor:
        return functional_call(skeleton, (p, b), (inputs,))

    def sequential() -> dict[str, Any]:
        for _ in range(args.steps):
            for model in models:
                inputs = x.clone().requires_grad_(True)
                torch.autograd.grad(nn.functional.cross_entropy(model(inputs), y), inputs)
        return {}

    def batched() -> dict[str, Any]:
        # robustlens' small-channel CPU kernel reads the memory layout, which vmap cannot answer: plain conv2d here
        plain = lambda x, w, b, padding, groups=1: nn.functional.conv2d(x, w, b, padding=padding, groups=groups)  # noqa: E731
        with mock.patch.object(cpu_conv, "small_channel_conv2d", plain):
            for _ in range(args.steps):
                inputs = x.expand(len(models), *x.shape).clone().requires_grad_(True)
                logits = vmap(one)(params, buffers, inputs)  # [models, batch, classes]
                loss = nn.functional.cross_entropy(logits.flatten(0, 1), y.repeat(len(models)), reduction="sum")
                torch.autograd.grad(loss, inputs)
        return {"kernels": "F.conv2d under vmap"}

    for name, fn in (("sequential", sequential), ("vmap", batched)):
        measure(report, device, {"row": f"sweep_batching/mnist_arch0/{name}", "model": "paper_a_arch0_x5",
                                 "tool": name, "precision": "fp32", "batch": len(x) * len(models),
                                 "steps": args.steps}, fn)


def job_rows(report: Report, device: torch.device, args: argparse.Namespace) -> None:
    """Whole ``robustlens evaluate`` jobs: Paper A's MNIST table, and LAGS alone (faithful / default)."""
    experiment = ["-cd", "experiments/buzhinsky2020_mnist/conf", "experiment=buzhinsky2020_mnist",
                  f"trainer={'gpu' if device.type == 'cuda' else 'cpu'}", "extras.print_config=false",
                  *args.job_overrides]
    others = ["clean", "noise", "severity_l2", "severity_linf", "bounded_l2_a", "bounded_l2_b", "bounded_linf_a",
              "bounded_linf_b", "lga", "lra", "laga", "lara", "lars"]
    lags_only = ["classifier.mode=plain", *[f"evaluation.probes.{p}=null" for p in others]]
    jobs = {
        "paper_a_table": [],
        "lags_faithful": [*lags_only, "evaluation.probes.lags.faithful=true"],
        "lags_default": [*lags_only, "evaluation.probes.lags.faithful=false"],
    }
    missing = "--small: whole jobs take minutes on a CPU" if args.small else _missing_shared(args.shared_dir)
    for name, overrides in jobs.items():
        row = {"row": f"jobs/{name}", "group": "jobs", "tool": "robustlens evaluate", "command": " ".join(
            ["robustlens evaluate", *experiment, *overrides])}
        if missing:
            report.add({**row, "skipped": missing})
            continue
        out = args.jobs_dir / name

        def run(overrides=overrides, out=out) -> dict[str, Any]:
            env = {**os.environ, "ROBUSTLENS_SHARED_DIR": str(args.shared_dir),
                   "ROBUSTLENS_DATA_DIR": str(args.shared_dir / "data"), "WANDB_MODE": "offline",
                   "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
            done = subprocess.run([sys.executable, "-m", "robustlens", "evaluate", *experiment, *overrides,
                                   f"hydra.sweep.dir={out}"], cwd=REPO, env=env, capture_output=True, text=True,
                                  timeout=max(report.left_s(), 1))
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
            results = [json.loads(p.read_text()) for p in sorted(out.glob("*/results.json"))]
            return {"jobs": len(results), "job_seconds": [r["timing"]["seconds"] for r in results],
                    "metrics": {r["config"]["classifier"]["mode"]: {k: v for k, v in r["metrics"].items()
                                if k.split("/")[-1] in TABLE_METRICS and k.count("/") == 1} for r in results}}

        measure(report, device, row, run, min_left_s=30)


def _missing_shared(shared: Path) -> str | None:
    needed = shared / "models" / "buzhinsky2020-mnist"
    if not needed.is_dir() or not (shared / "data" / "MNIST" / "raw").is_dir():
        return f"no Paper A models or MNIST under --shared-dir {shared}"
    return None


def add_ratios(report: Report) -> None:
    """``ratio_to_bare`` (same model and precision) and ``ratio_to_reference`` (torchattacks / pyautoattack fp32)."""
    for row in report.rows:
        if not row.get("images_per_s") or row.get("tool") != "robustlens" or row["group"] not in (
                "pgd", "apgd_ce", "fmn", "autoattack", "apgd_noexit"):
            continue
        bare = report.find(f"bare/{row['model']}/{row['precision']}")
        if bare and row["group"] in ("pgd", "apgd_ce", "fmn") and bare.get("images_per_s"):
            row["ratio_to_bare"] = row["images_per_s"] / bare["images_per_s"]
        reference = {"pgd": f"pgd/{row['model']}/torchattacks/fp32",
                     "autoattack": f"autoattack/{row['model']}/pyautoattack/fp32"}.get(row["group"])
        if row["group"] == "apgd_noexit":
            reference = row["row"].replace(f"/robustlens/{row['precision']}", "/pyautoattack/fp32")
        found = report.find(reference) if reference else None
        if found and found.get("images_per_s"):
            row["ratio_to_reference"] = row["images_per_s"] / found["images_per_s"]
    report.write()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    default_shared = Path(os.environ.get("ROBUSTLENS_SHARED_DIR", REPO.parent / "shared"))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--small", action="store_true", help="tiny sizes: a smoke run of every row in seconds on a CPU")
    p.add_argument("--precisions", default=None,
                   help="comma-separated subset of fp32,tf32,bf16,fp16 (default all; on a CPU fp32,tf32,bf16: "
                        "fp16 autocast is emulated there and 20x slower)")
    p.add_argument("--shared-dir", type=Path, default=default_shared, help="holds models/ and data/ (Paper A, MNIST)")
    p.add_argument("--out", type=Path, default=REPO / "outputs" / "bench_gpu.json")
    p.add_argument("--only", default=None, help="comma-separated row groups to run (default all): cifar, "
                   "mnist_autoattack, compile, sweep_batching, jobs")
    p.add_argument("--job-overrides", nargs="*", default=[],
                   help="extra Hydra overrides of the whole jobs, e.g. data.test_subset=60 (a smaller table)")
    p.add_argument("--jobs-dir", type=Path, default=None, help="output folders of the whole jobs (default: beside --out)")
    p.add_argument("--budget-s", type=float, default=None, help="stop starting rows after this (default 450 s; small 600)")
    p.add_argument("--batch", type=int, default=None, help="CIFAR batch (default 128; small 2)")
    p.add_argument("--steps", type=int, default=None, help="PGD / APGD-CE / FMN steps of the precision rows (10; small 2)")
    p.add_argument("--apgd-batch", type=int, default=None, help="batch of the early-exit-off APGD rows (32; small 2)")
    p.add_argument("--apgd-steps", type=int, default=None, help="their iterations (100; small 3)")
    p.add_argument("--mnist-n", type=int, default=None, help="MNIST images of the AutoAttack, compile and sweep rows (500; small 2)")
    args = p.parse_args(argv)
    small = args.small
    defaults = {"budget_s": (600, 450), "batch": (2, 128), "steps": (2, 10), "apgd_batch": (2, 32),
                "apgd_steps": (3, 100), "mnist_n": (2, 500)}
    for key, (if_small, full) in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, if_small if small else full)
    if args.precisions is None:
        args.precisions = ",".join(PRECISIONS if args.device.startswith("cuda") else PRECISIONS[:3])
    args.precisions = [q for q in args.precisions.split(",") if q]
    unknown = sorted(set(args.precisions) - set(PRECISIONS))
    if unknown:
        p.error(f"unknown precision(s) {unknown}; valid: {', '.join(PRECISIONS)}")
    args.jobs_dir = args.jobs_dir or args.out.parent / "bench_gpu_jobs"
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    meta = {"schema": "robustlens.bench_gpu/1", "device": torch.cuda.get_device_name(device) if device.type == "cuda"
            else "cpu", "torch": torch.__version__, "small": small, "precisions": args.precisions,
            "settings": {k: getattr(args, k) for k in defaults}, "shared_dir": str(args.shared_dir),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    report = Report(args.out, meta, args.budget_s)
    groups = set(GROUPS if args.only is None else args.only.split(","))
    if groups - set(GROUPS):
        p.error(f"unknown group(s) {sorted(groups - set(GROUPS))}; valid: {', '.join(GROUPS)}")
    if "cifar" in groups:
        x, y = random_cifar(args.batch, device)
        for name, build in cifar_models(small).items():
            torch.manual_seed(0)
            model = build().to(device).eval()
            bare_rows(report, device, name, model, x, y, args)
            robustlens_rows(report, device, name, model, x, y, args)
            reference_rows(report, device, name, model, x, y, args)
            if name == "wrn-28-10":
                apgd_noexit_rows(report, device, model, args)
            del model
    # the targets first (a run stopped by its budget keeps them): jobs before compile and sweep batching
    for group, rows in (("mnist_autoattack", mnist_autoattack_rows), ("jobs", job_rows), ("compile", compile_rows),
                        ("sweep_batching", sweep_batching_rows)):
        if group in groups:
            rows(report, device, args)
    add_ratios(report)
    print(f"wrote {args.out} ({len(report.rows)} rows, {time.monotonic() - report.started:.0f} s)")
    return json.loads(args.out.read_text())


if __name__ == "__main__":
    main()
