"""int8 quantization of ONNX models with ONNX Runtime's quantization tool (QDQ format)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.flow.binding import bind


class OrtQuantizeParams(Params):
    mode: Literal["static", "dynamic"] = Field(
        "static", description="static: weights and activations int8, ranges from calibration; "
        "dynamic: int8 weights, activation ranges computed at run time")
    per_channel: bool = Field(True, description="one weight scale per output channel")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    calibration_method: Literal["minmax", "entropy", "percentile"] = "minmax"
    symmetric_activations: bool = Field(False, description="force activation zero point 0")
    reduce_range: bool = Field(
        False, description="7-bit weights: avoids int16 overflow in the u8 x s8 kernels of x86 "
        "CPUs without VNNI (AVX2), which otherwise costs accuracy there")


class OrtQuantize(Optimizer):
    """Quantizes an ONNX model to int8 with ONNX Runtime: static mode inserts
    QuantizeLinear/DequantizeLinear pairs with ranges calibrated on samples from the
    dataset's calibration split; dynamic mode quantizes weights only."""

    name = "ort-quantize"
    Params = OrtQuantizeParams
    input_formats = ("onnx",)
    output_format = "onnx-int8"
    requires = ("onnx", "onnxruntime")
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnxruntime as ort
        from onnxruntime.quantization import (
            CalibrationMethod,
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process

        started = time.perf_counter()
        prepared = output.with_name(output.name + ".pre.onnx")
        try:
            quant_pre_process(str(model.path), str(prepared), skip_symbolic_shape=True)
            if self.params.mode == "dynamic":
                quantize_dynamic(str(prepared), str(output), per_channel=self.params.per_channel,
                                 reduce_range=self.params.reduce_range, weight_type=QuantType.QInt8)
                calibrated = 0
            else:
                calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples)
                calibrated = len(calibration)
                method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                          "percentile": CalibrationMethod.Percentile}[self.params.calibration_method]
                quantize_static(
                    str(prepared), str(output), _Samples(bind(calibration.inputs, model.io)),
                    quant_format=QuantFormat.QDQ, per_channel=self.params.per_channel,
                    reduce_range=self.params.reduce_range,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=method,
                    extra_options={"ActivationSymmetric": self.params.symmetric_activations},
                )
        finally:
            prepared.unlink(missing_ok=True)
        ctx.log(f"ort-quantize: {self.params.mode} int8, {calibrated} calibration samples")
        return Artifact(
            path=output, format=self.output_format, io=model.io,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={"onnxruntime": ort.__version__},
                duration_s=time.perf_counter() - started,
                details={"calibration_samples": calibrated},
            ),
        )


class _Samples:
    """Feeds calibration samples one at a time to ONNX Runtime's calibrator."""

    def __init__(self, inputs: dict[str, np.ndarray]):
        count = len(next(iter(inputs.values())))
        self._feeds = iter([{k: v[i : i + 1] for k, v in inputs.items()} for i in range(count)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)

    def rewind(self) -> None:  # part of the CalibrationDataReader protocol; one pass suffices
        pass
