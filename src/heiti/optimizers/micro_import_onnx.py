"""ONNX models (fp32, or int8 QDQ from ort-quantize and other tools) into heiti micro."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext


class MicroImportOnnxParams(Params):
    scheme: Literal["pow2", "per-channel"] = Field(
        "per-channel", description="scales for fp32 models (QDQ models keep their own scales)")
    calibration_samples: int = Field(200, ge=1, description="calibration samples for fp32 models")
    input_scale: float | None = Field(
        None, gt=0, description="dataset value = raw uint8 * input_scale (default: detected)")


class MicroImportOnnx(Optimizer):
    """Imports an ONNX model into heiti micro's integer graph: QDQ int8 models keep their
    int8 weights and scales; fp32 models are calibrated as in micro-ptq. Unsupported
    operators are named with what is supported."""

    name = "micro-import-onnx"
    Params = MicroImportOnnxParams
    input_formats = ("onnx", "onnx-int8")
    output_format = "micro-int8"
    file_suffix = ".npz"
    requires = ("onnx",)
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnx

        from heiti.errors import InputError
        from heiti.micro.onnx_import import import_onnx
        from heiti.micro.quantize import PASS_THROUGH, calibrate, to_integer
        from heiti.micro.steps import graph_artifact, input_scale

        floats, scales = import_onnx(model.path, input_scale(self.params.input_scale, ctx))
        if scales:
            missing = [op.output for op in floats.ops
                       if op.kind not in PASS_THROUGH and op.output not in scales]
            if missing:
                raise InputError(f"micro: QDQ model has no QuantizeLinear for tensors {missing}")
            graph = to_integer(floats, {}, "per-channel", given=scales)
            source = "qdq"
        else:
            samples = ctx.dataset.split("calibration").head(self.params.calibration_samples)
            graph = to_integer(floats, calibrate(floats, samples.x), self.params.scheme)
            source = "fp32"
        ctx.log(f"micro-import-onnx: {source} model, {len(graph.ops)} operators")
        return graph_artifact(graph, output, model, self.name, {"source": source},
                              {"onnx": onnx.__version__})
