"""Shared helpers for the benchmark scripts: statistics and a small ONNX model."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np


def median(values) -> float:
    return float(statistics.median(values))


def export_tiny_cnn(path: Path, channels=(32, 64), hidden=128) -> Path:
    """The demo's network (untrained: timing does not depend on the weights) as ONNX."""
    from heiti.datasets.digits import Digits
    from heiti.models.tiny_cnn import TinyCNN

    model = TinyCNN({"channels": list(channels), "hidden": hidden})
    export_zoo_model(model, (1, 8, 8), 10, path, Digits())
    return path


def export_zoo_model(model, input_shape: tuple[int, ...], num_classes: int, path: Path,
                     dataset) -> tuple:
    """Seeded, untrained weights of a zoo model saved beside ``path`` (``.pt``) and exported
    to ONNX at ``path``; returns both artifacts. ``dataset.split("val").x`` gives the
    exporter an example input."""
    import torch

    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import TensorSpec
    from heiti.core.steps import StepContext
    from heiti.frameworks.torch_tools import seed_everything
    from heiti.optimizers.onnx_export import OnnxExport

    seed_everything(0)
    weights = path.with_suffix(".pt")
    module = model.build(input_shape, num_classes)
    torch.save(module.state_dict(), weights)
    inputs = [TensorSpec(name="input", shape=[-1, *input_shape])]
    artifact = Artifact(
        path=weights, format="torch",
        io=model.iospec(module, inputs, [str(i) for i in range(num_classes)]),
        provenance=Provenance(producer="benchmark", details={
            "architecture": model.describe(), "input_shape": list(input_shape),
            "num_classes": num_classes})).save()
    ctx = StepContext(dataset=dataset, build_dir=path.parent, log=lambda m: None)
    exported = OnnxExport({"check_samples": 0}).optimize(artifact, path, ctx)
    exported.format = "onnx"
    return artifact, exported.save()


def digits_inputs(count: int) -> np.ndarray:
    from heiti.datasets.digits import Digits

    x = Digits().split("test").x
    return np.concatenate([x] * (count // len(x) + 1))[:count]


def print_table(header: list[str], rows: list[list]) -> None:
    """A Markdown table (floats with four decimals), as docs/benchmarks.md shows them."""
    def cell(value) -> str:
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(cell(v) for v in row) + " |")
