"""The config tree ships inside the wheel: a non-editable install finds it without the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.hydra_utils import REPO_ROOT


def test_wheel_carries_the_config_tree_and_the_installed_package_finds_it(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(REPO_ROOT), "-w", str(tmp_path / "dist")],
        check=True, capture_output=True,
    )
    wheel = next((tmp_path / "dist").glob("robustlens-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in ("train.yaml", "evaluate.yaml", "report.yaml", "experiment/quickstart.yaml", "data/digits.yaml"):
        assert f"robustlens/conf/{name}" in names, name
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    found = subprocess.run(
        [sys.executable, "-c", "from robustlens.config.locate import config_dir; print(config_dir())"],
        check=True, capture_output=True, text=True, env=env, cwd=tmp_path,
    ).stdout.strip()
    assert Path(found) == target / "robustlens" / "conf"
