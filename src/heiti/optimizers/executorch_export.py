"""PyTorch to an ExecuTorch program (``.pte``) delegated to XNNPACK, optionally int8."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import RunFailed
from heiti.frameworks.batching import quiet_torchao


class ExecutorchExportParams(Params):
    quantization: Literal["none", "int8"] = Field(
        "none", description="int8: XNNPACK quantizer (PT2E), symmetric per-channel weights and "
        "calibrated activations; inputs and outputs stay float")
    calibration_samples: int = Field(200, ge=1, description="samples from the calibration split")
    batch: int = Field(1, ge=1, le=1024, description="batch size exported in (static shapes)")


class ExecutorchExport(Optimizer):
    """Exports a PyTorch model to an ExecuTorch program with torch.export, lowering what XNNPACK
    supports to its delegate; ``quantization: int8`` quantizes with the XNNPACK PT2E quantizer
    first. The batch size is static (dynamic batches above about 15 failed to lower)."""

    name = "executorch-export"
    Params = ExecutorchExportParams
    input_formats = ("torch",)
    output_format = "pte"
    file_suffix = ".pte"
    converts = True
    variants = {"int8": {"quantization": "int8"}}
    requires = ("torch", "executorch")
    extra = "executorch"

    def output_format_for(self, input_format: str) -> str:
        return "pte-int8" if self.params.quantization == "int8" else "pte"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        quiet_torchao()
        import torch
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower

        from heiti.core.files import write_atomic
        from heiti.frameworks import pt2e
        from heiti.frameworks.native import package_versions
        from heiti.frameworks.torch_tools import load_module

        module = load_module(model)
        example = pt2e.example_batch(ctx, model.io, self.params.batch)
        started = time.perf_counter()
        with pt2e.converter_output(self.name):
            if self.params.quantization == "int8":
                module = self._quantize(module, example, ctx)
            program = torch.export.export(module, (example,))
            lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
            buffer = lowered.to_executorch().buffer
        write_atomic(output, buffer)
        return Artifact(
            path=output, format=self.output_format_for(model.format),
            io=model.io.static_batch(self.params.batch),
            provenance=Provenance(
                producer=f"optimizer:{self.name}",
                tool_versions=package_versions("torch", "executorch"),
                duration_s=time.perf_counter() - started,
                details={"quantization": self.params.quantization, "delegate": "xnnpack"},
            ),
        )

    def _quantize(self, module, example, ctx: StepContext):
        from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
            XNNPACKQuantizer,
            get_symmetric_quantization_config,
        )

        from heiti.frameworks import pt2e

        quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
        if ctx.dataset is None:
            raise RunFailed("int8 needs calibration samples, and this step runs without a dataset")
        calibration = ctx.dataset.split("calibration").head(self.params.calibration_samples).x
        ctx.log(f"executorch-export: int8, {len(calibration)} calibration samples")
        return pt2e.quantize(module, example, quantizer, calibration, self.params.batch)

