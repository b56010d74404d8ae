#!/usr/bin/env bash
# Build .whl/ (ignored by git): the wheels of what robustlens needs and the lent GPU machine's image lacks.
#
#   bash scripts/gpu_wheels.sh            # from the repository root, on a machine that reaches PyPI
#
# That image has Python 3.12, torch 2.11, lightning, torchmetrics, numpy, scipy, pandas, scikit-learn,
# matplotlib, rich, pyyaml, filelock; it lacks hydra-core, omegaconf (and its antlr4 runtime, published
# as an sdist only: built into a wheel here), pydantic (+ pydantic-core, annotated-types,
# typing-inspection), torchattacks and pyautoattack. benchmarks/gpu_check.sh unpacks .whl/*.whl with
# `pip install --no-index --no-deps --target <tmp>` there; carry the folder with the repository
# (the device tool's `carry: [".whl"]`). Versions: those of this checkout's environment where it has
# them (PYTHON, default python3), else the pins below. Nothing here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
dest=.whl
mkdir -p "$dest"

version() {  # the installed version of $1, else $2
    "$python" -c "import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: print(sys.argv[2])" "$1" "$2"
}

platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
binary=(
    "hydra-core==$(version hydra-core 1.3.2)"
    "omegaconf==$(version omegaconf 2.3.0)"
    "pydantic==$(version pydantic 2.11.7)"
    "pydantic-core==$(version pydantic-core 2.33.2)"
    "annotated-types==$(version annotated-types 0.7.0)"
    "typing-inspection==$(version typing-inspection 0.4.1)"
    "torchattacks==3.5.1"
)
"$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${platforms[@]}" -d "$dest" "${binary[@]}"

# omegaconf's parser runtime has no wheel on PyPI: build one (pure Python, so any interpreter's build fits 3.12)
"$python" -m pip wheel -q --no-deps -w "$dest" "antlr4-python3-runtime==$(version antlr4-python3-runtime 4.9.3)"

# pyautoattack: its wheel carries pyautoattack/examples/ (a 45 MB example model and TF weights), most of
# the 64 MiB a device call may carry: repack it without them (nothing imports them)
raw="$(mktemp -d)"
"$python" -m pip download -q --no-deps --python-version 3.12 --only-binary=:all: -d "$raw" "pyautoattack==0.2.0" \
    || "$python" -m pip wheel -q --no-deps -w "$raw" "pyautoattack==0.2.0"
"$python" - "$raw" "$dest" <<'PY'
import base64, hashlib, sys, zipfile
from pathlib import Path

raw, dest = Path(sys.argv[1]), Path(sys.argv[2])
wheel = next(raw.glob("pyautoattack-*.whl"))
keep = lambda name: "examples/" not in name  # noqa: E731
with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest / wheel.name, "w", zipfile.ZIP_DEFLATED) as out:
    names = [n for n in src.namelist() if keep(n)]
    record = next(n for n in names if n.endswith(".dist-info/RECORD"))
    lines = []
    for name in names:
        if name == record:
            continue
        data = src.read(name)
        out.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        lines.append(f"{name},sha256={digest},{len(data)}")
    out.writestr(record, "\n".join([*lines, f"{record},,"]) + "\n")
    dropped = sorted({n.split("examples/")[0] + "examples/" for n in src.namelist() if not keep(n)})
print(f"repacked {wheel.name}" + (f" without {', '.join(dropped)}" if dropped else " (nothing to drop)"))
PY
rm -rf "$raw"
ls -1 "$dest"
du -sh "$dest"
