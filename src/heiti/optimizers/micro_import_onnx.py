"""ONNX models (fp32, or int8 QDQ from ort-quantize and other tools) into heiti micro."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import Optimizer, StepContext
from heiti.micro.steps import SensitivityParams


class MicroImportOnnxParams(SensitivityParams):
    scheme: Literal["pow2", "per-channel", "tflite", "tflite-single"] = Field(
        "per-channel", description="scales for fp32 models (QDQ models keep their own scales and zero "
        "points, in the tflite-single scheme)")
    calibration_samples: int = Field(200, ge=1, description="calibration samples for fp32 models")
    input_scale: float | None = Field(
        None, gt=0, description="dataset value = raw uint8 * input_scale (default: detected)")


class MicroImportOnnx(Optimizer):
    """Imports an ONNX model into heiti micro's integer graph: QDQ int8 models keep their
    int8 weights, scales and zero points (tflite-single scheme); fp32 models are calibrated as in
    micro-ptq. Unsupported operators are named with what is supported."""

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
        from heiti.micro.ops import unit
        from heiti.micro.quantize import calibrate_for, to_integer
        from heiti.micro.steps import graph_artifact, input_scale, sensitivity

        floats, scales = import_onnx(model.path, input_scale(self.params.input_scale, ctx))
        if scales:
            # pooling without a QuantizeLinear of its own keeps its input's grid
            missing = [op.output for op in floats.ops
                       if unit(op.kind).own_grid_tflite(op, set()) and op.output not in scales]
            if missing:
                raise InputError(f"micro: QDQ model has no QuantizeLinear for tensors {missing}")
            # ONNX Runtime rescales in floating point, rounding once: TFLite's single rounding is closest
            graph = to_integer(floats, {}, "tflite-single", given=scales)
            source = "qdq"
        else:
            samples = ctx.dataset.split("calibration").head(self.params.calibration_samples)
            scheme = self.params.scheme
            graph = to_integer(floats, calibrate_for(floats, samples.x, scheme), scheme)
            source = "fp32"
        ctx.log(f"micro-import-onnx: {source} model, {len(graph.ops)} operators")
        # for QDQ models the float reference has the model's (dequantized) int8 weights
        details = {"source": source, "sensitivity": sensitivity(floats, graph, ctx, self.params, self.name)}
        return graph_artifact(graph, output, model, self.name, details, {"onnx": onnx.__version__})
