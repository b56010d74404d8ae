"""``benchmarks/bench_gpu.py --device cpu --small`` runs in CI and writes every row of the GPU benchmark.

Why: the benchmark is run for real only where a GPU is lent (``benchmarks/gpu_check.sh``), which is
rare; a row that breaks would be found there, with the machine's time already spent. The small CPU
run walks every code path (each precision, each tool, the compile and sweep-batching rows) in
seconds. The row names are written out here, from the benchmark's docstring, not read from its code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MODELS = ("wrn-28-10", "preact-resnet-18")
PRECISIONS = ("fp32", "tf32", "bf16")  # the CPU default: fp16 autocast is emulated there


def expected_rows() -> set[str]:
    rows = set()
    for model in MODELS:
        rows |= {f"bare/{model}/{v}" for v in (*PRECISIONS, "bf16_channels_last")}
        rows |= {f"{kind}/{model}/robustlens/{p}" for kind in ("pgd", "apgd_ce", "fmn", "autoattack") for p in PRECISIONS}
        rows |= {f"pgd/{model}/torchattacks/fp32", f"autoattack/{model}/pyautoattack/fp32"}
    for kind in ("apgd_ce", "apgd_t"):
        rows |= {f"apgd_noexit/wrn-28-10/{kind}/robustlens/{p}" for p in PRECISIONS}
        rows.add(f"apgd_noexit/wrn-28-10/{kind}/pyautoattack/fp32")
    rows |= {"mnist_autoattack/both/robustlens/fp32", "mnist_autoattack/both/robustlens/bf16"}
    rows |= {f"compile/mnist_both/pgd/{m}" for m in ("none", "default", "reduce-overhead")}
    rows |= {"sweep_batching/mnist_arch0/sequential", "sweep_batching/mnist_arch0/vmap"}
    rows |= {"jobs/paper_a_table", "jobs/lags_faithful", "jobs/lags_default"}
    return rows


def test_the_small_cpu_run_writes_every_row(tmp_path: Path, paper_a_models: Path, shared_data: Path) -> None:
    out = tmp_path / "bench_gpu.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_gpu.py", "--device", "cpu", "--small",
         "--shared-dir", str(paper_a_models.parents[1]), "--out", str(out)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(out.read_text())
    rows = {row["row"]: row for row in payload["rows"]}
    assert set(rows) == expected_rows() == set(payload["expected_rows"])
    assert payload["small"] and payload["device"] == "cpu"
    failed = {name: row["error"] for name, row in rows.items() if row.get("error")}
    assert not failed
    for name, row in rows.items():
        if name.startswith("jobs/"):
            assert "--small" in row["skipped"], name  # whole jobs are not part of the smoke run
            continue
        assert not row.get("skipped"), (name, row.get("skipped"))
        assert row["seconds"] > 0 and row["images_per_s"] > 0, name
        assert row["gpu_utilisation"] is None, name  # sampled on CUDA only
        if not name.startswith(("sweep_batching/", "bare/")):
            assert 0.0 <= row["robust_accuracy"] <= 1.0, name
    assert rows["pgd/wrn-28-10/robustlens/bf16"]["ratio_to_bare"] > 0
    assert rows["pgd/wrn-28-10/robustlens/fp32"]["ratio_to_reference"] > 0  # over torchattacks
    assert rows["apgd_noexit/wrn-28-10/apgd_t/robustlens/bf16"]["ratio_to_reference"] > 0  # over pyautoattack
    assert rows["compile/mnist_both/pgd/default"]["compile_seconds"] > 0
    assert 0.0 <= rows["mnist_autoattack/both/robustlens/bf16"]["identical_verdicts"] <= 1.0


@pytest.mark.parametrize("argument", [["--precisions", "fp8"]])
def test_an_unknown_precision_is_refused_with_the_valid_ones(argument: list[str]) -> None:
    done = subprocess.run([sys.executable, "benchmarks/bench_gpu.py", "--device", "cpu", *argument], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and "valid: fp32, tf32, bf16, fp16" in done.stderr
