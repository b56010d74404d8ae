"""Run-time access to the authors' reference code (``<shared>/reference/buzhinsky2020-code``).

It is an external reference, like a package compared against: imported from its folder at
run time, never copied. Tests that need it skip, naming the path and what is missing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from tests.conftest import missing, shared_dir


def reference_root() -> Path:
    return shared_dir() / "reference" / "buzhinsky2020-code"


def require(relative: str) -> Path:
    """The reference file/folder ``relative`` (inside the reference root), or skip naming it."""
    path = reference_root() / relative
    if not path.exists():
        missing(f"reference code missing: {path} not found (needs the authors' {relative})")
    return path


def import_latentspace(module: str) -> ModuleType:
    """``latentspace.<module>`` of the authors' library."""
    require("latentspace")
    root = str(reference_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    try:
        return importlib.import_module(f"latentspace.{module}")
    except ImportError as err:  # one of its own dependencies (seaborn, statsmodels, ...)
        missing(f"reference latentspace.{module} at {root} does not import: {err}")


def import_biggan(module: str) -> ModuleType:
    """``biggan.<module>`` of the BigGAN-PyTorch copy in the reference folder."""
    require("biggan")
    root = str(reference_root())
    if root not in sys.path:
        sys.path.insert(0, root)
    return importlib.import_module(f"biggan.{module}")


def import_pioneer_model() -> ModuleType:
    """PIONEER's ``model.py`` (``pioneer/src``): it parses ``sys.argv`` at import, so give it none."""
    src = require("pioneer/src/model.py").parent
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    saved = sys.argv
    sys.argv = ["train.py", "-d", "celeba", "--testonly", "--no_TB", "--max_phase=5"]
    try:
        for name in ("config", "utils", "model"):
            sys.modules.pop(name, None)  # other folders may have modules of these common names
        return importlib.import_module("model")
    finally:
        sys.argv = saved
