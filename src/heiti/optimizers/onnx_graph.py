"""Hardware-independent ONNX graph simplification, done once, offline."""

from __future__ import annotations

import collections
import time
from pathlib import Path

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext


class OnnxGraphParams(Params):
    level: str = Field("basic", pattern="^(basic|extended)$",
                       description="'basic' keeps standard ONNX operators only; 'extended' may "
                       "introduce ONNX Runtime contrib operators (runs on ONNX Runtime only)")


class OnnxGraph(Optimizer):
    """Simplifies an ONNX graph offline with ONNX Runtime's graph transformers: constant
    folding, redundant node elimination, Conv+BatchNormalization / Conv+Add / Conv+Mul
    folding, Relu-Clip fusion. The result is saved as a new ONNX file."""

    name = "onnx-graph"
    Params = OnnxGraphParams
    input_formats = ("onnx", "onnx-int8", "onnx-fp16")
    requires = ("onnx", "onnxruntime")
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnx
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if self.params.level == "basic"
            else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        )
        options.optimized_model_filepath = str(output)
        started = time.perf_counter()
        ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
        duration = time.perf_counter() - started
        onnx.checker.check_model(str(output))
        before = _op_histogram(onnx.load(str(model.path)))
        after = _op_histogram(onnx.load(str(output)))
        ctx.log(f"onnx-graph: {sum(before.values())} -> {sum(after.values())} nodes")
        return Artifact(
            path=output, format=model.format, io=model.io,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={"onnxruntime": ort.__version__},
                duration_s=duration,
                details={"nodes_before": sum(before.values()), "nodes_after": sum(after.values()),
                         "ops_before": before, "ops_after": after},
            ),
        )


def _op_histogram(model) -> dict[str, int]:
    return dict(sorted(collections.Counter(n.op_type for n in model.graph.node).items()))
