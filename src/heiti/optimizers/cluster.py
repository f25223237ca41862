"""Weight clustering of PyTorch models: each layer's weights share a few values."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.errors import InputError
from heiti.optimizers.torch_to_torch import FineTuneParams, TorchToTorch, modules_by_name


class ClusterParams(FineTuneParams):
    clusters: int = Field(16, ge=2, le=256, description="shared values (centroids) per layer; "
                          "16 stores each weight as a 4-bit index")
    skip: list[str] = Field([], description="module names whose weights stay as they are")
    min_weights: int = Field(64, ge=1, description="layers with fewer weights stay as they are "
                             "(their palette would cost more than it saves)")


class Cluster(TorchToTorch):
    """k-means over each convolution's and dense layer's weights: every weight becomes the
    nearest of 'clusters' centroids, then fine-tuning on the task's own loss moves the shared
    centroids (the assignment stays). Runtimes receive ordinary float weights with that few
    distinct values per layer: the accuracy effect shows everywhere, the storage saving
    where a format keeps indices and a palette (docs/compression.md)."""

    name = "cluster"
    Params = ClusterParams

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import torch
        from torch.nn.utils import parametrize

        from heiti.frameworks.torch_tools import SharedValues, load_module
        from heiti.frameworks.torch_training import evaluate_split, fine_tune

        started = time.perf_counter()
        p = self.params
        module = load_module(model)
        names = [spec.name for spec in model.io.outputs]
        layers = self._layers(module)
        if not layers:
            raise InputError(f"cluster: no layer has {p.min_weights} or more weights to cluster",
                             hint="lower 'min_weights' or 'skip' fewer layers")
        table = []
        for name, layer in layers:
            weight = layer.weight.detach().numpy()
            centroids, index = kmeans_1d(weight.ravel(), p.clusters)
            shared = SharedValues(centroids, index, weight.shape)
            parametrize.register_parametrization(layer, "weight", shared)
            table.append({"layer": name, "weights": int(weight.size), "clusters": len(centroids)})
        val = ctx.dataset.split("val")
        _, before = evaluate_split(module, val, ctx.dataset.task, names)
        result = fine_tune(module, ctx, p, names)
        for _, layer in layers:
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
        module.eval()
        clustered = sum(row["weights"] for row in table)
        bits = math.ceil(math.log2(p.clusters))
        ctx.log(f"cluster: {len(table)} layers, {clustered:,} weights in {p.clusters} clusters each"
                + ("" if before is None else f", validation score {before:.4f} before fine-tuning")
                + ("" if result is None or result.best_val_score is None
                   else f", {result.best_val_score:.4f} after"))
        with torch.no_grad():
            distinct = [int(torch.unique(layer.weight).numel()) for _, layer in layers]
        for row, count in zip(table, distinct, strict=True):
            row["distinct_values"] = count
        return self.save(module, output, model, started, {
            "clusters": p.clusters, "layers": table, "clustered_weights": clustered,
            "index_bits": bits,
            # what a palette format stores: packed indices plus float32 centroids per layer
            "palette_bytes": sum(math.ceil(row["weights"] * bits / 8) + 4 * row["clusters"]
                                 for row in table),
            "float_bytes": 4 * clustered,
            "val_score_before_fine_tuning": before,
            "val_score": None if result is None else result.best_val_score})

    def _layers(self, module: Any) -> list[tuple[str, Any]]:
        import torch

        found = modules_by_name(module, self.params.skip, self.name)
        return [(name, layer) for name, layer in found.items()
                if isinstance(layer, torch.nn.Linear | torch.nn.modules.conv._ConvNd)
                and name not in self.params.skip and layer.weight.numel() >= self.params.min_weights]


def kmeans_1d(values: np.ndarray, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (at most ``clusters``, fewer when the values have fewer distinct ones) and
    each value's centroid index; deterministic: centroids start evenly spaced over the range."""
    from sklearn.cluster import KMeans

    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    k = min(clusters, len(np.unique(values)))
    start = np.linspace(values.min(), values.max(), k).reshape(-1, 1)
    fitted = KMeans(n_clusters=k, init=start, n_init=1, max_iter=100).fit(values)
    return fitted.cluster_centers_.ravel().astype(np.float32), fitted.labels_.astype(np.int64)
