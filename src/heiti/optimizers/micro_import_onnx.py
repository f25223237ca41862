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
        "per-channel", description="scales for fp32 models; QDQ models keep their own scales and zero "
        "points in the tflite-single scheme unless 'tflite' is set (pow2 and per-channel are refused)")
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
        from heiti.micro.steps import check_fit, graph_artifact, input_scale, sensitivity

        floats, scales = import_onnx(model.path, input_scale(self.params.input_scale, ctx))
        check_fit(floats, model, ctx)
        if scales:
            # pooling without a QuantizeLinear of its own keeps its input's grid
            missing = [op.output for op in floats.ops
                       if unit(op.kind).own_grid_tflite(op, set()) and op.output not in scales]
            if missing:
                raise InputError(f"micro: QDQ model has no QuantizeLinear for tensors {missing}")
            # ONNX Runtime rescales in floating point, rounding once: TFLite's single rounding is closest
            scheme = self.params.scheme if "scheme" in self.params.model_fields_set else "tflite-single"
            if scheme not in ("tflite", "tflite-single"):
                raise InputError(f"micro-import-onnx: a QDQ model keeps its zero points, which scheme "
                                 f"'{scheme}' cannot hold",
                                 hint="set scheme: tflite-single (closest to ONNX Runtime) or tflite, "
                                 "or leave it out")
            if scheme == "tflite-single":  # pooling rounds as ONNX Runtime does: half to even
                for op in floats.ops:
                    if op.kind == "avgpool":
                        op.attrs["rounding"] = "half-even"
            graph = to_integer(floats, {}, scheme, given=scales)
            source = "qdq"
        else:
            samples = ctx.dataset.split("calibration").head(self.params.calibration_samples)
            scheme = self.params.scheme
            graph = to_integer(floats, calibrate_for(floats, samples.x, scheme), scheme)
            source = "fp32"
        ctx.log(f"micro-import-onnx: {source} model, {len(graph.ops)} operators")
        # for QDQ models the float reference has the model's (dequantized) int8 weights
        details = {"source": source, "sensitivity": sensitivity(floats, graph, ctx, self.params, self.name)}
        if source == "qdq":
            details["onnxruntime_agreement"] = self._agreement(model, graph, ctx)
        return graph_artifact(graph, output, model, self.name, details, {"onnx": onnx.__version__})

    def _agreement(self, model: Artifact, graph, ctx: StepContext) -> dict | None:
        """Top-1 agreement of the imported integer graph with ONNX Runtime's own execution of the
        QDQ model on validation samples; a warning below 99.5 % (None without onnxruntime)."""
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        import numpy as np

        from heiti.micro import golden
        from heiti.micro.steps import samples

        x = samples(ctx, "val").x[: max(self.params.sensitivity_samples, 1)]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        session = ort.InferenceSession(str(model.path), options, providers=["CPUExecutionProvider"])
        reference = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0]
        ours = golden.predict(graph, graph.quantize_input(x))
        top1 = float(np.mean(ours.reshape(len(x), -1).argmax(1) == reference.reshape(len(x), -1).argmax(1)))
        if top1 < 0.995:
            ctx.log(f"micro-import-onnx: warning: the imported graph agrees with ONNX Runtime on {top1:.1%} "
                    f"of top-1 predictions ({len(x)} validation samples; expected >= 99.5 %)")
        return {"samples": len(x), "top1": round(top1, 4)}
