"""Fixtures of the differential tests against Paper A's own code (the authors' repository).

The authors' code is an external reference in ``<shared>/reference/buzhinsky2020-code``
(``$ROBUSTLENS_SHARED_DIR`` or ``<repo>/../shared``), imported at run time by
``experiments/buzhinsky2020_mnist/reference.py``. Where it, its extra imports (the ``dev``
extra), the published models or MNIST are missing, every test here skips with the path and
what is missing: never a silent pass.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from robustlens.data.mnist import MNISTDataModule
from robustlens.models.classifiers import load_buzhinsky_classifier
from robustlens.models.generators.buzhinsky_wgan import load_buzhinsky_generators
from tests.conftest import missing

REPO_ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = REPO_ROOT / "experiments" / "buzhinsky2020_mnist" / "reference.py"


def _load_adapters():
    name = "buzhinsky2020_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ADAPTERS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


adapters = _load_adapters()


def open_or_skip(workdir: Path, shared: Path):
    """``adapters.open_reference``, or skip the test with its reason (the path and what is missing);
    under CI, where the reference must exist, fail it."""
    try:
        return adapters.open_reference(workdir, shared=shared)
    except adapters.ReferenceUnavailable as err:
        missing(str(err))


@pytest.fixture(scope="session")
def reference(shared: Path, tmp_path_factory: pytest.TempPathFactory):
    """The authors' library in a prepared working folder (see ``ReferenceWorkdir``), seeded."""
    work = open_or_skip(tmp_path_factory.mktemp("paper_a_reference"), shared)
    work.ref.seed(0)
    return work


@pytest.fixture(scope="session")
def mnist_test(shared: Path):
    """The class-stratified first 40 test images (robustlens' ``test_subset`` selection)."""
    data = MNISTDataModule(data_dir=str(shared / "data"), test_subset=40)
    try:
        data.setup("test")
    except Exception as err:  # DatasetNotFoundError names the files
        missing(f"MNIST not available: {err}")
    ds = data.data_test
    x = torch.stack([ds[i][0] for i in range(len(ds))])
    return x, ds.targets.clone(), ds.positions.clone()


@pytest.fixture(scope="session")
def models_dir(shared: Path) -> Path:
    try:
        return adapters.locate_models(shared)
    except adapters.ReferenceUnavailable as err:
        missing(str(err))


def robustlens_classifier(models_dir: Path, mode: str = "plain", dtype: torch.dtype = torch.float32):
    return load_buzhinsky_classifier(str(models_dir), mode=mode).to(dtype).eval()


def robustlens_generators(models_dir: Path, dtype: torch.dtype = torch.float32):
    return load_buzhinsky_generators(models_dir).to(dtype).eval()
