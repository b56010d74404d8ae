"""``classifier=robustbench``: a RobustBench model-zoo entry, through RobustBench's own ``load_model``.

RobustBench lays out weights as ``<model_dir>/<dataset>/<threat_model>/<name>.pt`` (ensembles:
``<name>.pt_m0.pt``, ``_m1``, ...). robustlens checks that the file is there *before* calling
``robustbench.utils.load_model`` (which would otherwise download it from Google Drive), so
nothing is downloaded unless ``allow_download: true``; a missing file is an error naming the
exact path and the RobustBench call that downloads it. RobustBench models normalise their
inputs themselves, so the wrapper adds no normalisation; the input size is the dataset's
(32×32 for CIFAR, 224×224 for ImageNet).

Two compatibility notes, both about the PyPI release ``robustbench==1.1.1``: it imports
``autoattack`` (the GitHub package of Croce & Hein), which PyPI does not have; the identical code
is on PyPI as ``pyautoattack`` (robustlens pins it), so :func:`import_robustbench` registers it
under the name ``autoattack`` when the GitHub package is absent. And it imports
``pkg_resources``, hence ``setuptools<81`` in the ``zoo`` extra.
"""

from __future__ import annotations

import difflib
import importlib
import json
import sys
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from robustlens.models.classifiers.sources.checks import finish
from robustlens.models.classifiers.sources.contract import Outputs, ZooClassifier, as_size
from robustlens.models.classifiers.sources.errors import ModelSourceError, missing_extra
from robustlens.utils.environment import environ_set

#: input resolution of each RobustBench dataset
RESOLUTION = {"cifar10": (32, 32), "cifar100": (32, 32), "imagenet": (224, 224)}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet": 1000}
MODEL_INFO = Path(__file__).with_name("robustbench_model_info.json")


def import_robustbench() -> Any:
    """``robustbench`` imported, with ``autoattack`` served by ``pyautoattack`` if needed."""
    try:
        importlib.import_module("autoattack")
    except ImportError:
        try:
            import pyautoattack
            import pyautoattack.state
        except ImportError:
            raise missing_extra("pyautoattack") from None
        sys.modules.setdefault("autoattack", pyautoattack)
        sys.modules.setdefault("autoattack.state", pyautoattack.state)
    try:
        import robustbench
        import robustbench.utils
    except ImportError as exc:
        if getattr(exc, "name", "") == "pkg_resources":
            raise ModelSourceError(
                "robustbench imports pkg_resources, which setuptools 81 removed: pip install 'setuptools<81' "
                "(the robustlens[zoo] extra pins it)"
            ) from None
        raise missing_extra("robustbench") from None
    return robustbench


def zoo_entries(dataset: str, threat_model: str) -> dict[str, Any]:
    """RobustBench's model dictionary of one dataset and threat model."""
    import_robustbench()
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    try:
        dataset_enum = BenchmarkDataset(dataset)
    except ValueError:
        raise ModelSourceError(
            f"RobustBench has no dataset {dataset!r}; valid: {', '.join(d.value for d in BenchmarkDataset)}"
        ) from None
    try:
        threat_enum = ThreatModel(threat_model)
    except ValueError:
        raise ModelSourceError(
            f"RobustBench has no threat model {threat_model!r}; valid: {', '.join(t.value for t in ThreatModel)}"
        ) from None
    if threat_enum not in model_dicts[dataset_enum]:
        raise ModelSourceError(f"RobustBench has no {threat_model} models for {dataset}")
    return model_dicts[dataset_enum][threat_enum]


def weight_files(model_dir: Path, dataset: str, threat_model: str, name: str, entry: dict[str, Any]) -> list[Path]:
    """Where RobustBench's ``load_model`` reads (and would download) the model's weights."""
    folder = Path(model_dir) / dataset / threat_model.replace("_3d", "")
    path = folder / f"{name}.pt"
    ids = entry.get("gdrive_id")
    if isinstance(ids, list):
        return [Path(f"{path}_m{i}.pt") for i in range(len(ids))]
    return [path]


def download_command(name: str, dataset: str, threat_model: str, model_dir: Path) -> str:
    return (
        "python -c \"from robustbench.utils import load_model; "
        f"load_model(model_name='{name}', dataset='{dataset}', threat_model='{threat_model}', model_dir='{model_dir}')\""
    )


@cache
def _bundled_info() -> dict[str, Any]:
    return json.loads(MODEL_INFO.read_text())


def published_info(name: str, dataset: str, threat_model: str, model_info_dir: str | None = None) -> dict[str, Any]:
    """RobustBench's published facts of a model (architecture, clean and AutoAttack accuracy in %).

    Read from ``<model_info_dir>/<dataset>/<threat_model>/<name>.json`` (a RobustBench checkout's
    ``model_info``) when given and present, else from the table robustlens ships for the models
    of its experiments; ``{}`` when neither has the model.
    """
    if model_info_dir is not None:
        path = Path(model_info_dir) / dataset / threat_model / f"{name}.json"
        if path.is_file():
            raw = json.loads(path.read_text())
            out = {k: raw.get(k) for k in ("architecture", "eps", "additional_data", "venue")}
            out["paper"] = raw.get("name")
            for key in ("clean_acc", "autoattack_acc", "corruptions_acc"):
                if raw.get(key) not in (None, ""):
                    out[key] = float(raw[key])
            return out
    return dict(_bundled_info().get(dataset, {}).get(threat_model, {}).get(name, {}))


def training_kind(name: str, threat_model: str) -> str:
    """``standard`` for RobustBench's reference models, else what the model was trained against."""
    if name.startswith("Standard"):
        return "standard"
    return "corruption-robust" if threat_model.startswith("corruptions") else f"robust ({threat_model})"


def load_robustbench(
    name: str,
    dataset: str = "cifar10",
    threat_model: str = "Linf",
    model_dir: str = "models",
    allow_download: bool = False,
    num_classes: Annotated[int, Field(ge=2)] | None = None,
    resize: int | list[int] | None = None,
    model_info_dir: str | None = None,
    trust_pickle: bool = False,
    allow_stochastic: bool = False,
    outputs: Outputs = "logits",
) -> ZooClassifier:
    """A RobustBench model in robustlens' contract.

    Args:
        name: the model's RobustBench name (``Standard``, ``Carmon2019Unlabeled``, ...).
        dataset: ``cifar10`` | ``cifar100`` | ``imagenet``.
        threat_model: ``Linf`` | ``L2`` | ``corruptions``.
        model_dir: RobustBench's model folder (weights at ``<model_dir>/<dataset>/<threat_model>/<name>.pt``).
        allow_download: let RobustBench download missing weights (default: never).
        num_classes: the data's class count (``${data.num_classes}``), checked against the outputs.
        resize: resize inputs inside the model (e.g. CIFAR-sized data for an ImageNet model: 224).
        model_info_dir: a RobustBench checkout's ``model_info`` folder, for published accuracies of
            models robustlens' own table lacks.
        trust_pickle: let torch unpickle Python objects in the weights file (older RobustBench
            checkpoints store some; only for files you trust).
        allow_stochastic, outputs: as for every source (docs/models-and-data.md).
    """
    entries = zoo_entries(dataset, threat_model)
    if name not in entries:
        close = difflib.get_close_matches(name, list(entries), n=5, cutoff=0.5)
        raise ModelSourceError(
            f"RobustBench has no {dataset} {threat_model} model {name!r}"
            + (f"; did you mean {', '.join(close)}?" if close else "")
            + f" ({len(entries)} models: `robustbench.model_zoo.model_dicts`)"
        )
    import timm
    from robustbench.utils import load_model

    model_dir_path = Path(model_dir)
    files = weight_files(model_dir_path, dataset, threat_model, name, entries[name])
    timm_name = f"{name.lower().replace('-', '_')}_{dataset}_{threat_model.lower()}"
    hosted_by_timm = timm.is_model(timm_name)
    torchvision_pretrained = dataset == "imagenet" and "Standard" in name
    missing = [p for p in files if not p.is_file()]
    if not allow_download:
        if hosted_by_timm or torchvision_pretrained:
            raise ModelSourceError(
                f"RobustBench builds {name} from "
                + ("timm's pretrained weights on the Hugging Face hub" if hosted_by_timm else "torchvision's pretrained weights")
                + ", which it downloads; set classifier.allow_download=true where there is network once, or load the "
                "same network with classifier=" + ("timm" if hosted_by_timm else "torchvision") + " from a local file"
            )
        if missing:
            raise ModelSourceError(
                f"the weights of RobustBench's {name} ({dataset}, {threat_model}) are not in model_dir: expected\n"
                + "\n".join(f"  {p}" for p in missing)
                + f"\nDownload them where there is network with\n  {download_command(name, dataset, threat_model, model_dir_path)}\n"
                "and copy the file there (or set classifier.model_dir to the folder that holds "
                f"{dataset}/{threat_model}/), or set classifier.allow_download=true"
            )
    try:
        with environ_set("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1", active=trust_pickle):  # RobustBench calls torch.load
            network = load_model(model_name=name, model_dir=str(model_dir_path), dataset=dataset, threat_model=threat_model)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise ModelSourceError(
            f"RobustBench could not load {files[0]} into its {name} network: {first[:400]}. The file does not hold "
            f"this model's weights (re-download it: {download_command(name, dataset, threat_model, model_dir_path)})"
        ) from None
    except Exception as exc:
        if "weights_only" in str(exc) or type(exc).__name__ == "UnpicklingError":
            raise ModelSourceError(
                f"{files[0]} holds Python objects besides tensors, which torch refuses to unpickle by default; if the "
                "file comes from RobustBench (or you trust it), set classifier.trust_pickle=true"
            ) from None
        raise
    info = published_info(name, dataset, threat_model, model_info_dir)
    model = ZooClassifier(
        network, None, None, RESOLUTION.get(dataset), as_size(resize, "resize"), outputs,
        info={
            "source": "robustbench", "name": name, "dataset": dataset, "threat_model": threat_model,
            "architecture": info.get("architecture") or type(network).__name__,
            "training": training_kind(name, threat_model), "weights": str(files[0]),
            "published_clean_accuracy": _fraction(info.get("clean_acc")),
            "published_robust_accuracy": _fraction(info.get("autoattack_acc")),
            "published_eps": info.get("eps"),
        },
    )
    return finish(
        model, num_classes if num_classes is not None else NUM_CLASSES.get(dataset), 3, allow_stochastic,
        flag_train_mode=True,
    )


def _fraction(percent: float | None) -> float | None:
    return None if percent is None else round(float(percent) / 100.0, 6)
