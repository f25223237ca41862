"""PyTorch to LiteRT (``.tflite``) with litert-torch, optionally fully int8."""

from __future__ import annotations

import contextlib
import io
import time
import warnings
from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.iospec import IOSpec
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import RunFailed


class LitertConvertParams(Params):
    quantization: Literal["none", "int8"] = Field(
        "none", description="int8: post-training static quantization of weights (per channel) and "
        "activations, calibrated on samples; inputs and outputs become int8 with scale/zero point")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    batch_size: int = Field(1, ge=1, description="static batch size of the converted model")


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
        import litert_torch
        import torch

        from heiti.frameworks import pt2e
        from heiti.frameworks.torch_tools import load_module

        module = load_module(model)
        example = pt2e.example_batch(ctx.dataset.split("val").x, self.params.batch_size)
        started = time.perf_counter()
        captured = io.StringIO()  # litert-torch prints every conversion stage
        with warnings.catch_warnings(), contextlib.redirect_stdout(captured), \
                contextlib.redirect_stderr(captured):
            warnings.simplefilter("ignore")
            try:
                if self.params.quantization == "int8":
                    converted = self._convert_int8(module, example, ctx)
                else:
                    converted = litert_torch.convert(module, (example,))
                converted.export(str(output))
            except Exception as exc:  # the converter raises many types; all mean "cannot convert"
                raise RunFailed(f"litert-convert failed: {exc}\n{captured.getvalue()[-2000:]}") from exc
        io_spec = _tflite_iospec(output, model.io.static_batch(self.params.batch_size))
        return Artifact(
            path=output, format=self.output_format_for(model.format), io=io_spec,
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions={"torch": torch.__version__,
                               "litert-torch": _version("litert-torch")},
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
        calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples).x
        quantized = pt2e.quantize(module, example, quantizer, calibration, self.params.batch_size,
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


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)
