"""Shared helpers for the benchmark scripts: statistics and a small ONNX model."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np


def median(values) -> float:
    return float(statistics.median(values))


def export_tiny_cnn(path: Path, channels=(32, 64), hidden=128) -> Path:
    """The demo's network (untrained: timing does not depend on the weights) as ONNX."""
    import torch

    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.steps import StepContext
    from heiti.datasets.digits import Digits
    from heiti.frameworks.torch_tools import seed_everything
    from heiti.models.tiny_cnn import TinyCNN
    from heiti.optimizers.onnx_export import OnnxExport

    seed_everything(0)
    model = TinyCNN({"channels": list(channels), "hidden": hidden})
    weights = path.with_suffix(".pt")
    torch.save(model.build((1, 8, 8), 10).state_dict(), weights)
    artifact = Artifact(
        path=weights, format="torch", io=TinyCNN.iospec((1, 8, 8), 10, [str(i) for i in range(10)]),
        provenance=Provenance(producer="benchmark", details={
            "architecture": model.describe(), "input_shape": [1, 8, 8], "num_classes": 10}))
    ctx = StepContext(dataset=Digits(), build_dir=path.parent, log=lambda m: None)
    OnnxExport({"check_samples": 0}).optimize(artifact, path, ctx)
    return path


def digits_inputs(count: int) -> np.ndarray:
    from heiti.datasets.digits import Digits

    x = Digits().split("test").x
    return np.concatenate([x] * (count // len(x) + 1))[:count]
