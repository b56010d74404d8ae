#!/usr/bin/env bash
# Every GPU figure of robustlens in one call: the `gpu` tests (tests/gpu) and benchmarks/bench_gpu.py.
#
#   bash benchmarks/gpu_check.sh            # from the repository root; writes under $OUT, else outputs/gpu_check
#
# Installs nothing from a registry: where the machine lacks robustlens' dependencies (hydra, omegaconf,
# pydantic, pyautoattack, torchattacks), carry them as wheels in the repository's ignored .whl/ folder
# (built by scripts/gpu_wheels.sh); they are unpacked into a temporary folder put on PYTHONPATH.
# Paper A's models and MNIST are read from $ROBUSTLENS_SHARED_DIR, else ./.shared (an ignored copy carried
# with the repository), else ../shared.
# Without CUDA it degrades to a smoke run: the gpu tests skip (saying why), the benchmark runs with
# --device cpu --small. BENCH_BUDGET_S (default 360) bounds the benchmark's rows, so tests and benchmark fit
# one 10-minute call; BENCH_ONLY (e.g. "jobs,compile,sweep_batching") runs some row groups alone, for a
# second call that measures the rows the budget left out (with SKIP_GPU_TESTS=1 there).
#
# Written under the output folder (at most 8 files, for the device tool's limits): environment.txt,
# nvidia-smi.txt, gpu_tests.log, gpu_tests.xml, bench_gpu.log, bench_gpu.json.
set -u
cd "$(dirname "$0")/.."
out="${OUT:-outputs/gpu_check}"
mkdir -p "$out"
python="${PYTHON:-python3}"

if ! "$python" -c "import hydra, omegaconf, pydantic, pyautoattack, torchattacks" 2> /dev/null \
        && compgen -G ".whl/*.whl" > /dev/null; then
    site="$(mktemp -d /tmp/robustlens-site.XXXX)"
    if "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl; then
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "warning: the wheels of .whl/ do not install here (built for another Python?); going on without them" >&2
    fi
fi
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export WANDB_MODE=offline PYTHONUNBUFFERED=1
if [ -z "${ROBUSTLENS_SHARED_DIR:-}" ]; then
    if [ -d .shared ]; then export ROBUSTLENS_SHARED_DIR="$PWD/.shared"; else export ROBUSTLENS_SHARED_DIR="$PWD/../shared"; fi
fi
export ROBUSTLENS_DATA_DIR="${ROBUSTLENS_DATA_DIR:-$ROBUSTLENS_SHARED_DIR/data}"

{
    date -u
    "$python" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
    "$python" -m pip list 2>/dev/null | grep -i -E "^(torch|lightning|hydra-core|omegaconf|pydantic|pyautoattack|torchattacks|torchmetrics) "
    echo "ROBUSTLENS_SHARED_DIR=$ROBUSTLENS_SHARED_DIR"
} > "$out/environment.txt" 2>&1
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$out/nvidia-smi.txt"

if "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    bench=(--device cuda)
else
    bench=(--device cpu --small)
fi

tests_status=0
if [ "${SKIP_GPU_TESTS:-0}" != 1 ]; then
    "$python" -m pytest -m gpu tests/gpu -q -p no:cacheprovider -rs --basetemp "$(mktemp -d /tmp/robustlens-gpu-tests.XXXX)" \
        --junitxml "$out/gpu_tests.xml" > "$out/gpu_tests.log" 2>&1
    tests_status=$?
    tail -n 15 "$out/gpu_tests.log"
fi

"$python" benchmarks/bench_gpu.py "${bench[@]}" --shared-dir "$ROBUSTLENS_SHARED_DIR" \
    --budget-s "${BENCH_BUDGET_S:-360}" ${BENCH_ONLY:+--only "$BENCH_ONLY"} --jobs-dir "$(mktemp -d /tmp/robustlens-gpu-jobs.XXXX)" \
    --out "$out/bench_gpu.json" > "$out/bench_gpu.log" 2>&1
bench_status=$?
tail -n 5 "$out/bench_gpu.log"

echo "gpu tests: exit $tests_status; benchmark: exit $bench_status; files in $out"
# pytest's 5 = no test collected/run is not expected here (the tests skip, which is 0)
[ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
