"""Where the Hydra config tree is, installed or in a checkout.

The tree lives in the repository's top-level ``conf/`` (so users read and copy it
there); the wheel ships the same files as ``robustlens/conf`` (``force-include`` in
``pyproject.toml``), so a non-editable install finds it too.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]


def config_dir() -> Path:
    """The directory holding ``train.yaml``, ``evaluate.yaml``, ``report.yaml`` and the groups."""
    candidates = [PACKAGE_DIR / "conf", PACKAGE_DIR.parents[1] / "conf"]
    for candidate in candidates:
        if (candidate / "train.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "robustlens' config tree was not found (looked in "
        + ", ".join(str(c) for c in candidates)
        + "). Reinstall the package (`pip install .`) or run from a checkout."
    )


def project_root() -> Path:
    """The checkout root when running from one (has ``pyproject.toml``), else the working directory."""
    root = PACKAGE_DIR.parents[1]
    return root if (root / "pyproject.toml").is_file() else Path.cwd()
