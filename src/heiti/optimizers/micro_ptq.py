"""Post-training int8 quantization of a PyTorch model into a heiti micro integer graph."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.micro.steps import SensitivityParams, TorchToMicro


class MicroPtqParams(SensitivityParams):
    scheme: Literal["pow2", "per-channel", "tflite", "tflite-single"] = Field(
        "pow2", description="pow2: power-of-two scales, shift-only requantization (CMSIS-NN style); "
        "per-channel: per-channel weight scales, fixed-point multiplier and shift; tflite: TFLite's "
        "int8 scheme (asymmetric activations with zero points, TFLite's requantization); "
        "tflite-single: the same with TFLITE_SINGLE_ROUNDING")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    input_scale: float | None = Field(
        None, gt=0, description="dataset value = raw uint8 * input_scale, or raw int8 * input_scale "
        "for data with negative values (default: detected)")


class MicroPtq(TorchToMicro):
    """Quantizes a PyTorch model (tiny-cnn, mobilenet-v2, ...) to the int8 integer graph of
    heiti micro, with activation ranges calibrated on samples; see docs/micro.md."""

    name = "micro-ptq"
    Params = MicroPtqParams

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import torch

        from heiti.micro.quantize import calibrate_for, to_integer
        from heiti.micro.steps import check_fit, graph_artifact, input_grid, sensitivity, torch_float_graph

        scale, dtype = input_grid(self.params.input_scale, ctx)
        _, floats = torch_float_graph(model, scale, dtype=dtype)
        check_fit(floats, model, ctx)
        samples = ctx.dataset.split("calibration").head(self.params.calibration_samples)
        scheme = self.params.scheme
        graph = to_integer(floats, calibrate_for(floats, samples.x, scheme), scheme)
        ctx.log(f"micro-ptq: {scheme}, {len(samples)} calibration samples, "
                f"{graph.weight_bytes()} weight bytes")
        details = {"calibration_samples": len(samples),
                   "sensitivity": sensitivity(floats, graph, ctx, self.params, self.name)}
        return graph_artifact(graph, output, model, self.name, details, {"torch": torch.__version__})
