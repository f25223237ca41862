"""PyTorch to LiteRT (``.tflite``) with litert-torch, optionally fully int8."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.iospec import IOSpec
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import RunFailed
from heiti.frameworks.batching import quiet_torchao


class LitertConvertParams(Params):
    quantization: Literal["none", "int8"] = Field(
        "none", description="int8: post-training static quantization of weights (per channel) and "
        "activations, calibrated on samples; inputs and outputs become int8 with scale/zero point")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    batch: int = Field(1, ge=1, description="batch size converted in (static shapes)")


class LitertConvert(Optimizer):
    """Converts a PyTorch model to a LiteRT (TensorFlow Lite) flatbuffer with litert-torch,
    without TensorFlow; with ``quantization: int8`` a PT2E post-training quantization makes a
    fully int8 model (int8 inputs and outputs)."""

    name = "litert-convert"
    Params = LitertConvertParams
    input_formats = ("torch",)
    output_format = "tflite"
    file_suffix = ".tflite"
    converts = True
    variants = {"int8": {"quantization": "int8"}}
    requires = ("torch", "litert_torch", "ai_edge_litert")
    extra = "litert-convert"

    def output_format_for(self, input_format: str) -> str:
        return "tflite-int8" if self.params.quantization == "int8" else "tflite"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        quiet_torchao()
        import litert_torch

        from heiti.frameworks import pt2e
        from heiti.frameworks.native import package_versions
        from heiti.frameworks.torch_tools import load_module

        module = load_module(model)
        example = pt2e.example_batch(ctx, model.io, self.params.batch)
        started = time.perf_counter()
        with pt2e.converter_output(self.name):
            if self.params.quantization == "int8":
                converted = self._convert_int8(module, example, ctx)
            else:
                converted = litert_torch.convert(module, (example,))
            converted.export(str(output))
        io_spec = _tflite_iospec(output, model.io.static_batch(self.params.batch))
        return Artifact(
            path=output, format=self.output_format_for(model.format), io=io_spec,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions=package_versions("torch", "litert-torch"),
                duration_s=time.perf_counter() - started,
                details={"quantization": self.params.quantization},
            ),
        )

    def _convert_int8(self, module, example, ctx: StepContext):
        import litert_torch
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig

        from heiti.frameworks import pt2e

        quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
            pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
        if ctx.dataset is None:
            raise RunFailed("int8 needs calibration samples, and this step runs without a dataset")
        calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples).x
        quantized = pt2e.quantize(module, example, quantizer, calibration, self.params.batch,
                                 fold_weights=False)
        ctx.log(f"litert-convert: int8, {len(calibration)} calibration samples")
        return litert_torch.convert(quantized, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer))


def _tflite_iospec(path: Path, reference: IOSpec) -> IOSpec:
    """The converted model's IO: reference names and shapes, dtypes and quantization from the file."""
    from heiti.frameworks.litert_tools import tensor_specs

    inputs, outputs = tensor_specs(path)
    io = reference.model_copy(deep=True)
    for specs, found in ((io.inputs, inputs), (io.outputs, outputs)):
        for spec, actual in zip(specs, found, strict=False):
            spec.dtype, spec.scale, spec.zero_point = actual.dtype, actual.scale, actual.zero_point
    return io

