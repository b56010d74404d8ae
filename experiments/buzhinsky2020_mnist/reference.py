"""Run Paper A's own code (the authors' MNIST procedures) beside robustlens, per sample.

Why this file: the fidelity table (``fidelity.py``) and the differential tests
(``tests/reference/``) must drive the *authors'* functions, not a re-implementation of them.
The authors' repository (MIT) lives outside this repository, in
``<shared>/reference/buzhinsky2020-code``; it is imported from there at run time
(``sys.path``), never copied. Everything below only feeds it inputs and records what it
computes:

* classifiers: ``latentspace.cnn.Trainer`` with the published weights (their BatchNorm,
  one image at a time, images in [-1, 1]);
* clean predictions: ``Trainer.predict``; noise accuracy: ``Trainer.accuracy`` (``images +
  randn·σ``, no clipping) with ``torch.randn`` answered by a given noise tensor;
* image-space severity / bounded accuracy: ``PGDAdversary`` + ``get_conventional_perturb`` +
  ``Trainer.measure_adversarial_severity`` / ``measure_robustness`` with the settings of
  ``EvaluationUtil.evaluate_conventional_{adversarial_severity,robustness}``;
* latent metrics: ``AdversarialGenerator.generate`` with their ``WGAN`` (``generative.py``),
  for generated codes fed from a given tensor and for given real images (their sampler
  replaced by an iterator over those images; their gradient inversion encodes them).

Their code opens MNIST as ``torchvision.datasets.MNIST("mnist")`` and the generators as
``mnist-gan/dumped_weights_<d>.bin`` relative to the working directory, and logs into
``logdir_<time>`` there: :class:`ReferenceWorkdir` prepares such a folder (unpacked IDX files,
a link to the published WGAN weights) and runs the code inside it.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from unittest import mock

import numpy as np
import torch
from torch import Tensor

REFERENCE_SUBDIR = Path("reference") / "buzhinsky2020-code"
MODELS_SUBDIR = Path("models") / "buzhinsky2020-mnist"
#: the files of the authors' library that these adapters call into
REQUIRED_FILES = (
    "latentspace/ml_util.py",
    "latentspace/cnn.py",
    "latentspace/datasets.py",
    "latentspace/gan.py",
    "latentspace/generative.py",
    "latentspace/adversarial_generation.py",
    "latentspace/evaluation_util.py",
)
#: third-party modules their imports need beyond torch/torchvision/numpy/scipy/matplotlib
#: (pip names: seaborn, statsmodels, tensorboardX, opencv-python-headless; robustlens' dev extra)
EXTRA_IMPORTS = {"seaborn": "seaborn", "statsmodels": "statsmodels", "tensorboardX": "tensorboardX",
                 "cv2": "opencv-python-headless"}
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
               "t10k-labels-idx1-ubyte")

# the authors' MNIST settings (datasets.py, evaluation_util.py, Adversarial.py), [-1, 1] units
SEVERITY_CAPS = {"scaled_l2": 0.6, "linf": 1.2}  # MNIST_L2_UPPER_BOUND, MNIST_LINF_UPPER_BOUND
NOISE_SIGMA = 0.8
LATENT_RHO_BOUNDED = 0.2  # Adversarial.py default of --bounded_search_rho; Paper A's table uses 0.3
LATENT_RHO_MAX = 2.5


class ReferenceUnavailable(RuntimeError):
    """The authors' code cannot run here; the message names the path and what is missing."""


def default_shared_dir() -> Path:
    """``$ROBUSTLENS_SHARED_DIR``, else ``<repo>/../shared`` (the project's layout)."""
    repo = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("ROBUSTLENS_SHARED_DIR", repo.parent / "shared")).resolve()


def locate_reference(shared: Path | None = None) -> Path:
    """The authors' code folder, checked for the files and imports the adapters need."""
    shared = Path(shared) if shared is not None else default_shared_dir()
    root = shared / REFERENCE_SUBDIR
    if not root.is_dir():
        raise ReferenceUnavailable(
            f"the authors' code of Paper A is not at {root} (set ROBUSTLENS_SHARED_DIR to the folder "
            "holding reference/buzhinsky2020-code)"
        )
    missing = [f for f in REQUIRED_FILES if not (root / f).is_file()]
    if missing:
        raise ReferenceUnavailable(f"the authors' code at {root} is incomplete: missing {', '.join(missing)}")
    absent = [pip for mod, pip in EXTRA_IMPORTS.items() if importlib.util.find_spec(mod) is None]
    if absent:
        raise ReferenceUnavailable(
            f"the authors' code at {root} needs {', '.join(absent)}: "
            f"pip install {' '.join(absent)} (or pip install -e '.[dev]')"
        )
    return root


def locate_models(shared: Path | None = None) -> Path:
    shared = Path(shared) if shared is not None else default_shared_dir()
    root = shared / MODELS_SUBDIR
    needed = [root / "classifiers_architecture0" / "plain_MNIST.bin"] + [
        root / "wgan" / f"dumped_weights_{d}.bin.generator" for d in range(10)
    ]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ReferenceUnavailable(f"Paper A's published models are incomplete at {root}: missing {missing[0]}"
                                   + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    return root


def unpack_mnist(data_dir: Path, target: Path) -> Path:
    """``<target>/mnist/MNIST/raw/`` with the unpacked IDX files torchvision reads (no download)."""
    raw = target / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for stem in MNIST_FILES:
        out = raw / stem
        if out.is_file():
            continue
        plain, packed = Path(data_dir) / "MNIST" / "raw" / stem, Path(data_dir) / "MNIST" / "raw" / f"{stem}.gz"
        if plain.is_file():
            shutil.copyfile(plain, out)
        elif packed.is_file():
            with gzip.open(packed, "rb") as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            raise ReferenceUnavailable(f"MNIST file {stem}[.gz] not found in {plain.parent}")
    return raw


@dataclass
class Reference:
    """The imported modules of the authors' library (``latentspace.*``)."""

    root: Path
    ml_util: ModuleType
    cnn: ModuleType
    datasets: ModuleType
    generative: ModuleType
    adversarial_generation: ModuleType

    def seed(self, seed: int) -> None:
        """Their code never seeds itself: ``Util.set_random_seed`` seeds random, numpy and torch."""
        self.ml_util.Util.set_random_seed(seed)


def import_reference(root: Path) -> Reference:
    """Import ``latentspace`` from ``root`` (put first on ``sys.path``)."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    mods = {name: importlib.import_module(f"latentspace.{name}")
            for name in ("ml_util", "cnn", "datasets", "generative", "adversarial_generation")}
    loaded = Path(mods["ml_util"].__file__).resolve()
    if not loaded.is_relative_to(root.resolve()):
        raise ReferenceUnavailable(f"`latentspace` was imported from {loaded}, not from {root}")
    return Reference(root=root, **mods)


class ReferenceWorkdir:
    """A folder laid out as the authors' scripts expect, and the context to run their code in it.

    Args:
        ref: the imported library.
        workdir: writable folder (created); gets ``mnist/MNIST/raw``, ``mnist-gan`` and the logs.
        data_dir: robustlens data root with ``MNIST/raw/*.gz``.
        models_dir: ``buzhinsky2020-mnist`` (published classifiers and WGANs).
    """

    def __init__(self, ref: Reference, workdir: Path, data_dir: Path, models_dir: Path):
        # absolute: their code runs with the workdir as cwd, so a relative path would move with it
        self.ref, self.workdir, self.models_dir = ref, Path(workdir).resolve(), Path(models_dir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        unpack_mnist(Path(data_dir), self.workdir)
        link = self.workdir / "mnist-gan"
        if not link.exists():
            link.symlink_to(self.models_dir / "wgan", target_is_directory=True)
        # their LogUtil writes log.txt into a folder relative to the cwd: keep it in the workdir
        ref.ml_util.LogUtil._dirname = str(self.workdir / "reference_logs")
        self._ds = None

    @contextlib.contextmanager
    def inside(self) -> Iterator[None]:
        """Run with the workdir as cwd (their relative paths) and stdout kept quiet."""
        old = Path.cwd()
        os.chdir(self.workdir)
        try:
            with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
                yield
        finally:
            os.chdir(old)

    @property
    def ds(self):
        """Their ``MNISTData`` (opened from the unpacked files; never downloads: the files exist)."""
        if self._ds is None:
            with self.inside():
                self._ds = self.ref.datasets.MNISTData()
        return self._ds

    def classifier(self, mode: str, dtype: torch.dtype = torch.float32):
        """Their ``Trainer`` holding the published architecture-0 classifier ``mode``."""
        path = self.models_dir / "classifiers_architecture0" / f"{mode}_MNIST.bin"
        with self.inside():
            trainer = self.ref.cnn.Trainer("mnist", None, None, 0)
            trainer.restore_params_from_disk(str(path))
        trainer.model.to(dtype)
        trainer.disable_param_gradients()
        return trainer

    def generator(self, digit: int, dtype: torch.dtype = torch.float32):
        """Their ``WGAN`` for ``digit`` (``generative.WGAN`` loads ``mnist-gan/dumped_weights_<d>.bin``)."""
        with self.inside():
            gm = self.ref.generative.WGAN(self.ref.ml_util.DatasetInfo.MNIST, digit, self.ds)
        gm.g.generator.to(dtype)
        return gm


# -- the authors' procedures, per sample ------------------------------------------------------

def _loader(images_pm1: Tensor, labels: Tensor, batch: int = 4) -> Callable:
    """A ``data_loader_fn`` as their Trainer methods take: batches of ([-1,1] images, labels)."""
    def loader():
        for i in range(0, len(labels), batch):
            yield images_pm1[i:i + batch], labels[i:i + batch]
    return loader


@contextlib.contextmanager
def _randn_answered_by(noise: Tensor) -> Iterator[None]:
    """``torch.randn`` returns consecutive slices of ``noise`` (for ``Trainer.accuracy``)."""
    state = {"at": 0}

    def fake_randn(*shape, **kwargs):
        n = shape[0]
        out = noise[state["at"]:state["at"] + n]
        if tuple(out.shape) != tuple(shape):
            raise AssertionError(f"reference asked torch.randn{shape}, the given noise has {tuple(out.shape)} left")
        state["at"] += n
        return out.clone()

    with mock.patch.object(torch, "randn", fake_randn):
        yield


def predict(trainer, images_pm1: Tensor) -> Tensor:
    """``Trainer.predict``: one image at a time through their network."""
    return trainer.predict(images_pm1)


def noise_predictions(trainer, images_pm1: Tensor, labels: Tensor, unit_noise: Tensor,
                      sigma: float = NOISE_SIGMA, batch: int = 4) -> tuple[Tensor, float]:
    """``Trainer.accuracy(loader, σ, draws)`` with its ``torch.randn`` draws taken from ``unit_noise``.

    ``unit_noise`` is ``[N, draws, C, H, W]`` (or ``[N, C, H, W]`` for one draw): their loop
    asks ``randn`` once per batch of ``batch`` images and draw, in that order. Returns the
    per-image, per-draw predictions it made (``[N, draws]``, recorded from its ``predict``
    calls) and the accuracy it reported, so a test can check both against robustlens.
    """
    if unit_noise.ndim == images_pm1.ndim:
        unit_noise = unit_noise[:, None]
    draws = unit_noise.shape[1]
    order = torch.cat([unit_noise[i:i + batch, t] for i in range(0, len(labels), batch) for t in range(draws)])
    seen: list[Tensor] = []
    real_predict = trainer.predict

    def spy(x):
        out = real_predict(x)
        seen.append(out)
        return out

    with _randn_answered_by(order.to(images_pm1.dtype)), mock.patch.object(trainer, "predict", spy):
        accuracy, total = trainer.accuracy(_loader(images_pm1, labels, batch), sigma, draws)
    assert total == len(labels) * draws
    preds = torch.empty(len(labels), draws, dtype=torch.long)
    k = 0
    for i in range(0, len(labels), batch):
        for t in range(draws):
            preds[i:i + batch, t] = seen[k]
            k += 1
    return preds, accuracy


def pgd_adversary(ref: Reference, rho: float, norm: str, *, kind: str, random_start: bool = True,
                  restarts: int | None = None):
    """Their ``PGDAdversary`` with the settings of ``EvaluationUtil`` (kind ``severity``/``bounded``)."""
    norm_name = {"scaled_l2": "scaled_l_2", "linf": "l_inf"}[norm]
    if kind == "severity":  # evaluate_conventional_adversarial_severity: T=50, s=0.05, R=15, 'min'
        return ref.ml_util.PGDAdversary(rho, 50, 0.05, random_start, 0, verbose=0,
                                        n_repeat=15 if restarts is None else restarts,
                                        repeat_mode="min", norm=norm_name)
    if kind == "bounded":  # evaluate_conventional_robustness: T=25, s=0.1, one run
        r = 1 if restarts is None else restarts
        return ref.ml_util.PGDAdversary(rho, 25, 0.1, random_start, 0, verbose=0, n_repeat=r,
                                        repeat_mode="any" if r > 1 else None, norm=norm_name)
    raise ValueError(f"kind must be 'severity' or 'bounded', got {kind!r}")


@dataclass
class ImageSearchResult:
    norm: Tensor  # per image, [-1,1] units, of the unclipped perturbed image − image
    found: Tensor  # their classifier misclassifies the (unclipped) returned image
    preds: Tensor


def image_search(ref: Reference, ds, trainer, adversary, images_pm1: Tensor, labels: Tensor,
                 norm: str) -> ImageSearchResult:
    """``Trainer.measure_adversarial_severity`` with ``get_conventional_perturb``, per image.

    Their function returns only the mean; the per-image norms are recorded from the
    ``norm_fn`` it calls (the norms of ``perturbed_image − image``, as they compute them),
    the returned images from the ``perturb_fn`` it calls.
    """
    perturb = ref.adversarial_generation.get_conventional_perturb(trainer, adversary)
    returned: list[Tensor] = []
    norms: list[float] = []

    def perturb_fn(image, label):
        out = perturb(image, label)
        returned.append(out.detach().clone())
        return out

    base_norm = (lambda x: x.norm() / np.sqrt(x.numel())) if norm == "scaled_l2" else (lambda x: x.abs().max())

    def norm_fn(x):
        value = base_norm(x)
        norms.append(float(value))
        return value

    trainer.measure_adversarial_severity(perturb_fn, _loader(images_pm1, labels), ds, norm_fn, False)
    adv = torch.stack(returned)
    preds = trainer.predict(adv)
    return ImageSearchResult(norm=torch.tensor(norms, dtype=torch.float64), found=preds.ne(labels), preds=preds)


@dataclass
class LatentRunResult:
    """What ``AdversarialGenerator`` recorded, per image and classifier (lists in their order)."""

    clean: Tensor  # [C, N] bool: original image classified correctly (reconstruction only)
    reconstructed: Tensor  # [C, N] bool: G(l) (generated or reconstructed) classified correctly
    decayed: Tensor  # [C, N] bool
    modified: Tensor  # [C, N] bool: G(l_d + Δl) classified correctly (1 − success)
    latent_norm: Tensor  # [C, N] ‖Δl‖ₛ
    image_l2s: Tensor  # [C, N] ‖Δx‖₂/√n in [-1,1] units
    labels: Tensor  # [N]


def latent_run(work: ReferenceWorkdir, trainers: Sequence, adversary, *, labels: Tensor,
               codes: Tensor | None = None, images_pm1: Tensor | None = None, eps: float = 1.0,
               dtype: torch.dtype = torch.float32) -> LatentRunResult:
    """``AdversarialGenerator.generate`` class by class, as ``Adversarial.py`` runs it.

    Generation (``codes`` given): their ``torch.randn(1, 64)`` draw of the code is answered by
    the given code (only that call: the random starts of ``PGDAdversary`` still draw from
    torch's RNG). Reconstruction (``images_pm1`` given): their per-class sampler yields the
    given images instead of shuffled training images; their ``WGAN.encode`` (Adam inversion,
    4 restarts × 40 steps, torch's RNG) encodes them. Samples are returned in input order.
    """
    ref = work.ref
    gen_mod = ref.adversarial_generation
    decay = ref.ml_util.EpsDTransformer().eps_to_d(eps)
    use_generated = codes is not None
    advgen = gen_mod.AdversarialGenerator(None, list(trainers), use_generated, decay)
    generate_code = gen_mod.AdversarialGenerator.generate.__code__
    real_randn = torch.randn
    order: list[int] = []
    for digit in torch.unique(labels).tolist():
        rows = (labels == digit).nonzero().squeeze(1)
        order += rows.tolist()
        gm = work.generator(digit, dtype)
        queue = list(codes[rows]) if use_generated else []

        def randn(*shape, _queue=queue, **kwargs):
            if sys._getframe(1).f_code is generate_code:  # the code draw inside generate()
                return _queue.pop(0).view(1, -1).clone()
            return real_randn(*shape, **kwargs).to(dtype)

        if not use_generated:
            imgs = images_pm1[rows]

            def sampler(batch_size: int = 1, _imgs=imgs, _digit=digit):
                for img in _imgs:
                    yield img.unsqueeze(0), torch.tensor([_digit])

            gm.get_sampler = sampler
        advgen.set_generative_model(gm)
        with work.inside(), mock.patch.object(torch, "randn", randn), \
                mock.patch.object(torch, "empty", _typed_empty(dtype)):
            advgen.generate(adversary, len(rows), False, digit == int(torch.unique(labels)[0]), False)
        gm.destroy()
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    if isinstance(adversary, RecordingAdversary) and len(trainers) == 1:  # back to input order
        adversary.trajectories[:] = [adversary.trajectories[int(k)] for k in inverse]

    def stat(lists, kind=torch.float64):
        return torch.stack([torch.tensor([float(v) for v in col], dtype=kind)[inverse] for col in lists])

    return LatentRunResult(
        clean=stat(advgen.recorded_clean_successes, torch.bool) if not use_generated else torch.empty(0),
        reconstructed=stat(advgen.recorded_reconstructed_successes, torch.bool),
        decayed=stat(advgen.recorded_decayed_successes, torch.bool),
        modified=stat(advgen.recorded_modified_successes, torch.bool),
        latent_norm=stat(advgen.recorded_latent_norms),
        image_l2s=stat(advgen.recorded_original_l2_norms),
        labels=labels,
    )


def _typed_empty(dtype: torch.dtype):
    """Their inversion allocates its codes with ``torch.empty(..., dtype=torch.float32)``: follow
    the run's dtype so a float64 run stays float64 (float32 runs are unchanged)."""
    real_empty = torch.empty

    def empty(*args, **kwargs):
        if "dtype" in kwargs and kwargs["dtype"] == torch.float32:
            kwargs["dtype"] = dtype
        return real_empty(*args, **kwargs)

    return empty


class SharedStartsAdversary:
    """Wraps their image-space ``PGDAdversary`` and answers its random draws with given numbers.

    Their ``perturb`` draws each run's start as ``torch.rand(1, n)`` (L∞: uniform noise) or
    ``torch.randn(1, n)`` (scaled L2: a direction), then ``np.random.rand()`` (the radius
    factor). The k-th ``perturb`` call (the k-th image) gets ``noise[k, r]`` and ``radius[k, r]``
    for its run ``r``: the unit draws robustlens' search uses for that image
    (``PaperASearchAttack.start_draws``), so both searches start every run from the same
    point and can be compared image by image. Their formulas scale the draws themselves
    (``(u − ½)·2·ρ·r`` and ``g/‖g‖ₛ·ρ·r``, ρ in their [-1,1] units), so the draws are the
    unit numbers, not the starts. A draw they make that is not one of these fails loudly.
    """

    def __init__(self, adversary, noise: Tensor, radius: Tensor):
        if not adversary.random_start:
            raise ValueError("SharedStartsAdversary needs an adversary with random_start=True")
        self.adversary, self.noise, self.radius = adversary, noise, radius
        self.calls = 0

    def perturb(self, initial_vector: Tensor, get_gradient: Callable):
        k = self.calls
        self.calls += 1
        n_runs = self.adversary.n_repeat
        if self.noise.shape[1] < n_runs or self.radius.shape[1] < n_runs:
            raise ValueError(f"{n_runs} runs need {n_runs} draws per image, got {tuple(self.noise.shape[:2])}")
        run = {"noise": 0, "radius": 0}
        name = "rand" if self.adversary.inf_norm else "randn"

        def noise(*shape, **kwargs):
            u = self.noise[k, run["noise"]].reshape(1, -1)
            if tuple(shape) != tuple(u.shape):
                raise AssertionError(f"their search drew torch.{name}{shape}; the shared noise is {tuple(u.shape)}")
            run["noise"] += 1
            return u.clone()

        def radius(*args):
            if args:
                raise AssertionError(f"their search drew np.random.rand{args}; only the radius factor is shared")
            r = float(self.radius[k, run["radius"]])
            run["radius"] += 1
            return r

        with mock.patch.object(torch, name, noise), mock.patch.object(np.random, "rand", radius):
            return self.adversary.perturb(initial_vector, get_gradient)


class RecordingAdversary:
    """Wraps one of their adversaries and records every point its search evaluates.

    ``trajectories[k]`` is the list of vectors (flattened, as their ``get_gradient`` receives
    them) of the k-th ``perturb`` call, so a test can show the step at which two searches part.
    """

    def __init__(self, adversary):
        self.adversary = adversary
        self.trajectories: list[list[Tensor]] = []

    def perturb(self, initial_vector: Tensor, get_gradient: Callable):
        points: list[Tensor] = []
        self.trajectories.append(points)

        def recording(vector):
            points.append(vector.detach().flatten().clone())
            return get_gradient(vector)

        return self.adversary.perturb(initial_vector, recording)


def open_reference(workdir: Path, shared: Path | None = None, data_dir: Path | None = None) -> ReferenceWorkdir:
    """Locate, check and import the authors' code; prepare ``workdir`` (see :class:`ReferenceWorkdir`)."""
    shared = Path(shared) if shared is not None else default_shared_dir()
    root = locate_reference(shared)
    models = locate_models(shared)
    data = Path(data_dir) if data_dir is not None else shared / "data"
    ref = import_reference(root)
    return ReferenceWorkdir(ref, workdir, data, models)
