"""Shared by the compiler-backend tests: the session's trained digits model as ONNX, the
PyTorch reference predictions on the test split, and running a chain step or a runtime
directly (no CLI) so that each backend's test stays short.

Test modules import the fixture by name: ``from backend_helpers import digits_fixture  # noqa: F401``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from heiti.core.artifact import Artifact
from heiti.core.steps import Optimizer, Runtime, StepContext
from heiti.datasets.digits import Digits
from heiti.pipeline.inference import run_inference


@dataclass
class DigitsReference:
    onnx: Artifact           # the trained demo network exported to ONNX (dynamic batch)
    x: np.ndarray            # test split inputs
    y: np.ndarray            # test split labels
    reference: np.ndarray    # PyTorch's predicted classes on x
    ctx: StepContext
    folder: Path

    @property
    def reference_accuracy(self) -> float:
        return float(np.mean(self.reference == self.y))


@pytest.fixture(scope="session", name="digits")
def digits_fixture(trained_model_dir, tmp_path_factory) -> DigitsReference:
    import torch

    from heiti.frameworks.torch_tools import load_module
    from heiti.optimizers.onnx_export import OnnxExport

    folder = tmp_path_factory.mktemp("backends")
    dataset = Digits()
    ctx = StepContext(dataset=dataset, build_dir=folder, log=lambda message: None)
    model = Artifact.load(trained_model_dir / "model" / "model.pt")
    onnx = step(OnnxExport({"check_samples": 0}), model, folder / "model.onnx", ctx)
    test = dataset.split("test")
    with torch.no_grad():
        reference = load_module(model)(torch.from_numpy(test.x)).numpy().argmax(axis=1)
    return DigitsReference(onnx, test.x, test.truth, reference, ctx, folder)


def step(optimizer: Optimizer, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
    """Run one optimizer as the chain does (format, provenance, sidecar)."""
    result = optimizer.optimize(model, output, ctx)
    result.format = optimizer.output_format_for(model.format)
    result.provenance.input_sha256 = model.sha256
    return result.save()


def predict(runtime: Runtime, model: Artifact, x: np.ndarray) -> np.ndarray:
    """Predicted classes of ``x``, one sample per call, through heiti's inference loop."""
    runtime.load(model)
    try:
        loop = run_inference(runtime, {model.io.inputs[0].name: x}, batch_size=1, warmup=1,
                             show_progress=False)
    finally:
        runtime.close()
    return loop.outputs[model.io.outputs[0].name].argmax(axis=1)


def agreement(predicted: np.ndarray, reference: np.ndarray) -> float:
    return float(np.mean(predicted == reference))


def planned_example(filename: str) -> list[str]:
    """Load an example scenario from examples/digits and check its chain (nothing runs);
    return the (optimizer name, output format) of each step and the runtime's name."""
    from conftest import EXAMPLES_DIR
    from heiti.pipeline.chain import plan_chain
    from heiti.scenario import load_scenario

    scenario = load_scenario(EXAMPLES_DIR / "digits" / filename)
    steps = [(s.optimizer.name, s.output_format) for s in plan_chain(scenario)]
    return [*steps, scenario.runtime.name]
