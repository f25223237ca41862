"""int8 post-training quantization of OpenVINO models with NNCF."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import component_failures
from heiti.frameworks import openvino_tools


class OpenVinoQuantizeParams(Params):
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    preset: Literal["performance", "mixed"] = Field(
        "performance", description="performance: symmetric weights and activations; mixed: "
        "symmetric weights, asymmetric activations (better for activations without ReLU)")
    fast_bias_correction: bool = Field(True, description="False: slower, more exact bias correction")


class OpenVinoQuantize(Optimizer):
    """Quantizes a model to int8 OpenVINO IR with NNCF post-training quantization.

    Activation ranges are calibrated on samples of the dataset's calibration split, weights
    per channel, biases corrected; writes OpenVINO IR with FakeQuantize operations that
    the CPU plugin runs as int8 kernels."""

    name = "openvino-quantize"
    Params = OpenVinoQuantizeParams
    input_formats = ("onnx", "openvino")
    output_format = "openvino-int8"
    file_suffix = openvino_tools.SUFFIX
    requires = ("openvino", "nncf")
    extra = "openvino"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        started = time.perf_counter()
        logging.getLogger("nncf").setLevel(logging.ERROR)  # NNCF logs every stage at INFO
        import nncf

        calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples)
        samples = [calibration.x[i : i + 1] for i in range(len(calibration))]
        with component_failures(f"{self.name} quantization"):
            quantized = nncf.quantize(
                openvino_tools.read(model), nncf.Dataset(samples), subset_size=len(samples),
                preset=getattr(nncf.QuantizationPreset, self.params.preset.upper()),
                fast_bias_correction=self.params.fast_bias_correction)
            openvino_tools.save(quantized, output)
        ctx.log(f"openvino-quantize: int8, {len(samples)} calibration samples")
        return Artifact(
            path=output, format=self.output_format, io=model.io,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={**openvino_tools.version(), "nncf": nncf.__version__},
                duration_s=time.perf_counter() - started,
                details={"calibration_samples": len(samples)}),
        )
