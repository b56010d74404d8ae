"""A table-driven metric tester: one row per metric case, run in one process and in two.

Modelled on torchmetrics' ``MetricTester(ddp=...)``: a row (:class:`MetricCase`) names a metric
factory, a seeded data maker (one :class:`ProbeOutput` holding every sample) and a reference that
computes the expected values from the metric's definition (``docs/metrics.md``) in plain numpy,
without calling robustlens. The same rows run

* in one process, updating in batches of :data:`SINGLE_BATCH` samples, and
* in two DDP processes (gloo, CPU), each rank updating an interleaved half of the samples (as a
  ``DistributedSampler`` splits them) in batches of :data:`RANK_BATCH`,

and both must equal the reference. Why one spawn for every row (:func:`run_table_ddp`): starting two
processes costs seconds of imports, updating a metric milliseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import multiprocessing
import os
import socket
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torchmetrics import Metric

from robustlens.metrics.base import ProbeOutput
from robustlens.metrics.functional import DuplicateSamplesWarning

#: batch size of the single-process run and of each rank's run: different, so batching cannot matter
SINGLE_BATCH, RANK_BATCH = 13, 8
WORLD_SIZE = 2
#: seconds a rank waits for its peer in one collective
COLLECTIVE_TIMEOUT_S = 120
#: modules imported once by the forkserver, not once per rank
PRELOAD = ["torch", "torchmetrics", "sklearn.metrics", "robustlens.metrics.latent_structure",
           "robustlens.evaluation.worst_case"]

Expected = Mapping[str, Any]


def feed_probe_output(metric: Metric, output: ProbeOutput) -> None:
    """How a ProbeMetric is fed: one ``update`` per batch."""
    metric.update(output)


@dataclass(frozen=True)
class MetricCase:
    """One row of the metric table.

    Attributes:
        id: the test id.
        metric: builds a fresh metric (called once per process).
        data: builds every sample as one ProbeOutput (seeded: every process builds the same).
        reference: the expected ``{key: value}`` of ``compute()`` (plus ``observe``'s keys),
            computed from the definition with numpy on the full data.
        feed: how one batch reaches the metric (a metric that is not a ProbeMetric adapts here).
        observe: further values read from the computed metric (e.g. which samples it kept).
        warns_duplicates: the data repeat sample indices (as a padding sampler would) and the
            metric must say so (:class:`DuplicateSamplesWarning`); any other row must not warn.
        float32_keys: keys documented as float32; every other float value must be float64
            (rates and means are divided in float64, ``docs/metrics.md``).
    """

    id: str
    metric: Callable[[], Metric]
    data: Callable[[], ProbeOutput]
    reference: Callable[[ProbeOutput], Expected]
    feed: Callable[[Metric, ProbeOutput], None] = feed_probe_output
    observe: Callable[[Metric], Mapping[str, Any]] | None = None
    warns_duplicates: bool = False
    float32_keys: tuple[str, ...] = ()


def take(output: ProbeOutput, positions: torch.Tensor) -> ProbeOutput:
    """The rows ``positions`` of every per-sample field of ``output``."""
    changes: dict[str, Any] = {}
    for f in dataclasses.fields(output):
        value = getattr(output, f.name)
        if isinstance(value, torch.Tensor):
            changes[f.name] = value[positions]
        elif isinstance(value, dict):
            changes[f.name] = {k: v[positions] for k, v in value.items()}
    return dataclasses.replace(output, **changes)


def run_case(case: MetricCase, positions: torch.Tensor, batch_size: int) -> dict[str, Any]:
    """Feed the samples at ``positions`` in batches, compute, and describe what came out.

    Returns ``{"values", "observed", "emits", "duplicate_warnings"}`` or ``{"error"}`` (a traceback, so that
    one broken row fails alone, not the whole 2-process run).
    """
    try:
        data, metric = case.data(), case.metric()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for chunk in positions.split(batch_size):
                case.feed(metric, take(data, chunk))
            values = dict(metric.compute())
            observed = dict(case.observe(metric)) if case.observe is not None else {}
        repeats = sum(issubclass(w.category, DuplicateSamplesWarning) for w in caught)
        return {
            "values": {k: torch.as_tensor(v).detach().cpu() for k, v in values.items()},
            "observed": {k: torch.as_tensor(v).detach().cpu() for k, v in observed.items()},
            "emits": tuple(getattr(metric, "emits", ())),
            "duplicate_warnings": repeats,
        }
    except Exception:  # reported by the row's test
        return {"error": traceback.format_exc()}


def num_samples(case: MetricCase) -> int:
    return case.data().index.numel()


def run_single(case: MetricCase) -> dict[str, Any]:
    """The one-process run of a row."""
    return run_case(case, torch.arange(num_samples(case)), SINGLE_BATCH)


def _rank_positions(n: int, rank: int, world: int) -> torch.Tensor:
    """Interleaved positions of one rank, as ``DistributedSampler(shuffle=False)`` assigns them."""
    return torch.arange(n)[rank::world]


@contextlib.contextmanager
def gloo_group(rank: int, world: int, port: int) -> Iterator[None]:
    """Inside a spawned rank: join a CPU (gloo) process group on localhost, leave it on exit.

    The timeout turns a rank waiting for a collective its peer never reaches (a row that failed
    on one rank only) into an error instead of a hung test run.
    """
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    try:
        yield
    finally:
        dist.destroy_process_group()


def spawn_ranks(worker: Callable[..., None], args: tuple[Any, ...], preload: Sequence[str] = PRELOAD) -> None:
    """Run ``worker(rank, world, port, *args)`` on :data:`WORLD_SIZE` fresh processes and wait.

    forkserver with preloaded imports: the ranks are fresh processes (as with spawn, no inherited
    thread pools) but torch/torchmetrics are imported once, not once per rank (~12 s CPU each).
    """
    multiprocessing.set_forkserver_preload(list(preload))
    mp.start_processes(
        worker, args=(WORLD_SIZE, free_port(), *args), nprocs=WORLD_SIZE, join=True, start_method="forkserver"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _table_worker(rank: int, world: int, port: int, out_dir: str, table_module: str, table_name: str) -> None:
    with gloo_group(rank, world, port):
        cases: Sequence[MetricCase] = getattr(importlib.import_module(table_module), table_name)
        results = {
            case.id: run_case(case, _rank_positions(num_samples(case), rank, world), RANK_BATCH) for case in cases
        }
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")


def run_table_ddp(table_module: str, table_name: str, out_dir: Path) -> list[dict[str, dict[str, Any]]]:
    """Every row of ``table_module.table_name`` on :data:`WORLD_SIZE` gloo processes, in one spawn.

    Returns per rank ``{case id: run_case(...)}``. The ranks import the table by module name, so
    it must be importable (the tests run with ``pythonpath = ["."]``).
    """
    spawn_ranks(_table_worker, (str(out_dir), table_module, table_name))
    return [torch.load(out_dir / f"rank{r}.pt", weights_only=False) for r in range(WORLD_SIZE)]


def assert_matches_reference(case: MetricCase, run: Mapping[str, Any], where: str) -> None:
    """``run`` (from :func:`run_case`) equals the row's reference, key by key."""
    if "error" in run:
        raise AssertionError(f"{case.id} ({where}) raised:\n{run['error']}")
    if run["emits"]:  # a metric that declares its keys returns exactly those
        assert set(run["values"]) == set(run["emits"]), (
            f"{case.id}: compute() keys {sorted(run['values'])} != emits {sorted(run['emits'])}"
        )
    values: dict[str, torch.Tensor] = {**run["values"], **run["observed"]}
    expected = case.reference(case.data())
    assert set(values) == set(expected), f"{case.id} ({where}): keys {sorted(values)} != expected {sorted(expected)}"
    for key, want in expected.items():
        got = values[key]
        want = np.asarray(want)
        label = f"{case.id}/{key} ({where})"
        assert tuple(got.shape) == want.shape, f"{label}: shape {tuple(got.shape)} != {want.shape}"
        if want.dtype.kind in "biu":
            assert not got.is_floating_point(), f"{label}: a count/class must be an integer, got {got.dtype}"
            np.testing.assert_array_equal(got.numpy(), want, err_msg=label)
            continue
        if key not in case.float32_keys:
            assert got.dtype == torch.float64, f"{label}: expected float64, got {got.dtype}"
        np.testing.assert_allclose(got.double().numpy(), want.astype(np.float64), rtol=1e-5, atol=1e-7,
                                   equal_nan=True, err_msg=label)
    warned = run["duplicate_warnings"] > 0
    assert warned == case.warns_duplicates, (
        f"{case.id} ({where}): DuplicateSamplesWarning {'raised' if warned else 'not raised'}"
    )

