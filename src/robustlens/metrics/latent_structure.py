"""Latent-space structure of a classifier (Paper B; ``docs/metrics.md``).

Paper B looks at penultimate-layer features of clean and attacked inputs: how far apart the
class centroids are, whether samples still sit nearest to their own class's centroid, and a
2-D embedding. The paper's exact method could not be confirmed, so this module measures the
standard, well-defined quantities:

* ``centroid_distance`` [K, K]: Euclidean distance between class centroids;
* ``nearest_centroid_accuracy`` (scalar) and ``nearest_centroid_matrix`` [K, K]: the share of
  class-a samples whose nearest centroid is b (rows sum to 1);
* ``compactness`` [K]: mean distance of a class's samples to their own centroid;
* ``separation`` [K]: distance from a class's centroid to the nearest other centroid;
* ``silhouette`` / ``classwise_silhouette`` [K]: scikit-learn's silhouette overall / per class;
* ``latent_count`` [K]: how many samples per class the numbers are computed from.

Classes without samples get NaN. The 2-D embedding is not a metric value: the evaluation
pairs the kept features of two probes (:func:`paired_embedding_from_metrics`) for plots.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn
from torchmetrics.utilities import dim_zero_cat

from robustlens.metrics.base import NumClasses, ProbeMetric, ProbeOutput
from robustlens.metrics.functional import check_class_tensor, first_occurrence, rate

EmbeddingMethod = Literal["pca", "tsne", "umap", "none"]


class FeatureExtractor:
    """Features of ``model`` at one named layer, captured by a forward hook.

    Args:
        model: any ``nn.Module``.
        layer: a name from ``model.named_modules()`` (e.g. ``"net.fc1"``). ``None`` uses the
            model's ``penultimate_layer`` attribute (a module name or the module itself).
        capture: ``"output"`` takes the layer's output; ``"input"`` takes its (first) input,
            which is the penultimate representation when ``layer`` is the final linear layer.

    The hook lives only during :meth:`__call__`, and the model runs in eval mode (its
    previous mode restored), so the model is left untouched.
    """

    def __init__(
        self, model: nn.Module, layer: str | None = None, capture: Literal["output", "input"] = "output"
    ):
        if capture not in ("output", "input"):
            raise ValueError(f"capture must be 'output' or 'input', got {capture!r}")
        self.model = model
        self.capture = capture
        self.layer, self.module = self._resolve(model, layer)

    @staticmethod
    def _resolve(model: nn.Module, layer: str | None) -> tuple[str, nn.Module]:
        names = [name for name, _ in model.named_modules() if name]
        if layer is None:
            attr = getattr(model, "penultimate_layer", None)
            if isinstance(attr, nn.Module):
                found = [name for name, module in model.named_modules() if module is attr]
                return (found[0] if found else "penultimate_layer"), attr
            if attr is None:
                raise ValueError(
                    f"{type(model).__name__} has no `penultimate_layer` attribute: pass layer=<module name>; "
                    f"available modules: {', '.join(names) or '(none)'}"
                )
            layer = str(attr)
        try:
            module = model.get_submodule(layer)
        except AttributeError:
            raise ValueError(
                f"no module named {layer!r} in {type(model).__name__}; available modules: {', '.join(names)}"
            ) from None
        return layer, module

    def __call__(self, x: Tensor) -> Tensor:
        """Flattened features ``[B, D]`` of the layer for inputs ``x`` (no graph is built)."""
        captured: list[Tensor] = []

        def hook(_module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            value = args[0] if self.capture == "input" else output
            if isinstance(value, (tuple, list)):
                value = value[0]
            captured.append(value.detach())

        handle = self.module.register_forward_hook(hook)
        was_training = self.model.training
        self.model.eval()  # the features the classifier predicts with; BatchNorm stats stay untouched
        try:
            with torch.no_grad():
                self.model(x)
        finally:
            handle.remove()
            self.model.train(was_training)
        if not captured:
            raise RuntimeError(
                f"layer {self.layer!r} did not run in the model's forward pass; pick another layer"
            )
        return captured[-1].flatten(1)


def select_per_class(labels: Tensor, index: Tensor, cap: int, owner: str | None = None) -> Tensor:
    """Positions of the kept samples: duplicates of an index dropped, then per class the ``cap``
    smallest sample indices, returned in increasing index order.

    Why by sample index: the kept set then does not depend on batch order or on how DDP
    split the data, so one process and two keep the same samples (and padded duplicates
    from a distributed sampler count once).
    """
    order = first_occurrence(index, owner)
    lab = labels[order]
    keep = torch.zeros_like(order, dtype=torch.bool)
    for c in torch.unique(lab).tolist():
        positions = torch.nonzero(lab == c).flatten()[:cap]
        keep[positions] = True
    return order[keep]


def embed_2d(
    features: np.ndarray,
    method: EmbeddingMethod = "pca",
    seed: int = 0,
    fit_on: np.ndarray | None = None,
    tsne_max_iter: int = 1000,
) -> np.ndarray:
    """A 2-D embedding ``[N, 2]`` of ``features`` for plotting.

    ``pca`` (deterministic signs via scikit-learn) can be fitted on other data (``fit_on``,
    e.g. clean features, so attacked points are shown in the clean coordinates); ``tsne``
    and ``umap`` have no out-of-sample transform and are fitted on ``features`` itself.
    ``tsne_max_iter`` (>= 250, scikit-learn's minimum) trades t-SNE quality for time.
    """
    features = np.asarray(features, dtype=np.float64)
    n = features.shape[0]
    if method == "none" or n == 0:
        return np.zeros((n, 2))
    if features.shape[1] < 2:
        features = np.pad(features, ((0, 0), (0, 2 - features.shape[1])))
    if method == "pca":
        from sklearn.decomposition import PCA

        basis = features if fit_on is None else np.asarray(fit_on, dtype=np.float64)
        if basis.shape[1] < 2:
            basis = np.pad(basis, ((0, 0), (0, 2 - basis.shape[1])))
        if basis.shape[0] < 2:
            return np.zeros((n, 2))
        return PCA(n_components=2, svd_solver="full").fit(basis).transform(features)
    if method == "tsne":
        from sklearn.manifold import TSNE

        if n < 4:
            return np.zeros((n, 2))
        perplexity = float(min(30.0, (n - 1) / 3))
        tsne = TSNE(
            n_components=2, perplexity=perplexity, random_state=seed, init="pca", max_iter=tsne_max_iter
        )
        return tsne.fit_transform(features)
    if method == "umap":
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError as err:
            raise ImportError("embedding='umap' needs the umap-learn package; use 'pca' or 'tsne'") from err
        return umap.UMAP(n_components=2, random_state=seed).fit_transform(features)
    raise ValueError(f"unknown embedding method {method!r}; choose pca, tsne, umap or none")


def paired_embedding(
    clean: np.ndarray,
    attacked: np.ndarray,
    labels: np.ndarray,
    method: EmbeddingMethod = "pca",
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Clean and attacked features in one shared 2-D space (the side-by-side scatter plot).

    PCA is fitted on the clean features and applied to both; t-SNE/UMAP are fitted on both
    together. Returns ``{"clean": [N, 2], "attacked": [M, 2], "labels": labels}`` (the format
    the class-wise report callback reads from ``pl_module.embeddings[probe]``).
    """
    clean = np.asarray(clean, dtype=np.float64)
    attacked = np.asarray(attacked, dtype=np.float64)
    if method == "pca":
        return {
            "clean": embed_2d(clean, "pca", seed, fit_on=clean),
            "attacked": embed_2d(attacked, "pca", seed, fit_on=clean),
            "labels": np.asarray(labels),
        }
    joint = embed_2d(np.concatenate([clean, attacked]), method, seed)
    return {"clean": joint[: len(clean)], "attacked": joint[len(clean) :], "labels": np.asarray(labels)}


def paired_embedding_from_metrics(
    clean: LatentStructure, attacked: LatentStructure, method: EmbeddingMethod = "pca", seed: int = 0
) -> dict[str, np.ndarray]:
    """:func:`paired_embedding` of two computed :class:`LatentStructure` metrics (e.g. of the
    clean probe and of an attack probe), rows matched by sample index (samples in both only).

    This is what the evaluation module stores as ``embeddings[probe]`` for the report callback.
    """
    if clean.last_features is None or attacked.last_features is None:
        raise RuntimeError("call compute() on both LatentStructure metrics before pairing their embeddings")
    common, ci, ai = np.intersect1d(
        clean.last_features["index"], attacked.last_features["index"], return_indices=True
    )
    if common.size == 0:
        raise ValueError("the clean and attacked metrics share no sample index; were they fed the same data?")
    return paired_embedding(
        clean.last_features["features"][ci],
        attacked.last_features["features"][ai],
        clean.last_features["labels"][ci],
        method,
        seed,
    )


class LatentStructure(ProbeMetric):
    """Class structure of penultimate-layer features of the probe's (perturbed) inputs.

    Args:
        num_classes: K.
        layer: module name of the feature layer; ``None`` uses the model's ``penultimate_layer``.
        capture: ``"output"`` or ``"input"`` of that layer (see :class:`FeatureExtractor`).
        max_samples: samples kept per class (the smallest dataset indices), bounding memory:
            features are stored, not summarised, because silhouettes need them all.
        embedding: method of the 2-D embedding the evaluation draws from the kept features
            (:func:`paired_embedding_from_metrics`).
        seed: random state of t-SNE/UMAP.

    The evaluation module must call :meth:`set_model` with the classifier before the first
    ``update`` (the metric sees only ``ProbeOutput.inputs``, kept because ``needs_inputs``).
    Under DDP every process must see at least one batch (list states are gathered).
    After ``compute``: ``last_features = {"features", "labels", "index"}`` (numpy, sorted by
    index).
    """

    needs_inputs = True
    full_state_update = False
    emits = (
        "centroid_distance", "nearest_centroid_accuracy", "nearest_centroid_matrix", "compactness",
        "separation", "silhouette", "classwise_silhouette", "latent_count",
    )

    def __init__(
        self,
        num_classes: NumClasses = 10,
        layer: str | None = None,
        capture: Literal["output", "input"] = "output",
        max_samples: Annotated[int, Field(ge=1)] = 500,
        embedding: EmbeddingMethod = "pca",
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        if embedding not in ("pca", "tsne", "umap", "none"):
            raise ValueError(f"unknown embedding method {embedding!r}; choose pca, tsne, umap or none")
        if capture not in ("output", "input"):
            raise ValueError(f"capture must be 'output' or 'input', got {capture!r}")
        self.layer = layer
        self.capture = capture
        self.max_samples = max_samples
        self.embedding = embedding
        self.seed = seed
        self.add_state("features", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("sample_index", default=[], dist_reduce_fx="cat")
        self.__dict__["_extractor"] = None  # not a submodule: the model's weights are no metric state
        self.last_features: dict[str, np.ndarray] | None = None

    def set_model(self, model: nn.Module) -> None:
        """Give the metric the classifier whose features it measures (called by the evaluation module)."""
        self.__dict__["_extractor"] = FeatureExtractor(model, self.layer, self.capture)

    def update(self, output: ProbeOutput) -> None:
        extractor: FeatureExtractor | None = self.__dict__["_extractor"]
        if extractor is None:
            raise RuntimeError(
                "LatentStructure has no model: call metric.set_model(classifier) before update"
            )
        if output.inputs is None:
            raise ValueError(
                "LatentStructure needs ProbeOutput.inputs (the probed inputs); the probe must keep them "
                "when a metric has needs_inputs=True"
            )
        labels = check_class_tensor("labels", output.labels, self.num_classes)
        feats = extractor(output.inputs).float().to(self.device)
        if feats.shape[0] != labels.numel():
            raise ValueError(f"{feats.shape[0]} feature rows for {labels.numel()} labels")
        self.features.append(feats)
        self.labels.append(labels.to(self.device))
        self.sample_index.append(output.index.reshape(-1).long().to(self.device))
        self._compact()

    def _compact(self) -> None:
        """Keep at most ``max_samples`` per class locally (a superset of the global selection)."""
        feats, labels, index = (dim_zero_cat(s) for s in (self.features, self.labels, self.sample_index))
        keep = select_per_class(labels, index, self.max_samples, owner=type(self).__name__)
        self.features, self.labels, self.sample_index = [feats[keep]], [labels[keep]], [index[keep]]

    def compute(self) -> dict[str, Tensor]:
        k = self.num_classes
        if isinstance(self.features, list) and not self.features:  # nothing seen: NaN values, counts 0
            return latent_statistics(torch.zeros(0, 1), torch.zeros(0, dtype=torch.long), k)
        feats, labels, index = (dim_zero_cat(s) for s in (self.features, self.labels, self.sample_index))
        keep = select_per_class(labels, index, self.max_samples, owner=type(self).__name__)
        feats, labels, index = feats[keep].double().cpu(), labels[keep].cpu(), index[keep].cpu()
        result = latent_statistics(feats, labels, k)
        self.last_features = {"features": feats.numpy(), "labels": labels.numpy(), "index": index.numpy()}
        return result


def latent_statistics(feats: Tensor, labels: Tensor, num_classes: int) -> dict[str, Tensor]:
    """The class-structure numbers of :class:`LatentStructure` for features ``[N, D]`` and labels ``[N]``."""
    k = num_classes
    feats = feats.double()
    count = torch.bincount(labels, minlength=k)
    present = count > 0
    sums = torch.zeros(k, feats.shape[1], dtype=torch.double).index_add_(0, labels, feats)
    centroids = sums / count.clamp(min=1)[:, None].double()
    cdist = torch.cdist(centroids, centroids)
    absent_pair = ~(present[:, None] & present[None, :])
    centroid_distance = cdist.masked_fill(absent_pair, float("nan"))

    to_centroid = torch.cdist(feats, centroids).masked_fill(~present[None, :], float("inf"))
    nearest = to_centroid.argmin(dim=1)
    hits = torch.zeros(k, k, dtype=torch.long)
    hits.index_put_((labels, nearest), torch.ones_like(labels), accumulate=True)
    nearest_matrix = rate(hits, count[:, None].expand(k, k))
    nearest_accuracy = rate(hits.diagonal().sum(), count.sum())

    own = to_centroid.gather(1, labels[:, None]).squeeze(1)
    compactness = rate(torch.zeros(k, dtype=torch.double).index_add_(0, labels, own), count)
    others = cdist.masked_fill(absent_pair | torch.eye(k, dtype=torch.bool), float("inf"))
    separation = others.min(dim=1).values
    separation = separation.masked_fill(~torch.isfinite(separation), float("nan")).float()

    classwise_silhouette = torch.full((k,), float("nan"), dtype=torch.float64)
    silhouette = torch.tensor(float("nan"), dtype=torch.float64)
    n_labels = int(present.sum())
    if 2 <= n_labels <= feats.shape[0] - 1:
        from sklearn.metrics import silhouette_samples

        s = torch.from_numpy(silhouette_samples(feats.numpy(), labels.numpy()))
        classwise_silhouette = rate(torch.zeros(k, dtype=torch.double).index_add_(0, labels, s), count)
        silhouette = s.mean()
    return {
        "centroid_distance": centroid_distance.float(),
        "nearest_centroid_accuracy": nearest_accuracy,
        "nearest_centroid_matrix": nearest_matrix,
        "compactness": compactness,
        "separation": separation,
        "silhouette": silhouette,
        "classwise_silhouette": classwise_silhouette,
        "latent_count": count,
    }


__all__ = [
    "FeatureExtractor",
    "LatentStructure",
    "embed_2d",
    "latent_statistics",
    "paired_embedding",
    "paired_embedding_from_metrics",
    "select_per_class",
]
