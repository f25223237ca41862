"""ONNX to OpenVINO's intermediate representation (IR)."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import component_failures
from heiti.frameworks import native, openvino_tools


class OpenVinoConvertParams(Params):
    batch: int | None = Field(None, ge=1, description="fix the batch dimension (None: keep the "
                              "model's, e.g. dynamic)")


class OpenVinoConvert(Optimizer):
    """Converts an ONNX model to OpenVINO IR (model.xml + model.bin in a folder).

    Uses ``openvino.convert_model``; weights stay float32. The device plugin compiles
    the IR when the runtime loads it."""

    name = "openvino-convert"
    Params = OpenVinoConvertParams
    input_formats = ("onnx",)
    output_format = "openvino"
    file_suffix = openvino_tools.SUFFIX
    requires = ("openvino",)
    extra = "openvino"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        started = time.perf_counter()
        io = model.io if self.params.batch is None else native.fixed_batch(model.io, self.params.batch)
        with component_failures(f"{self.name} conversion"):
            openvino_tools.save(openvino_tools.read(model, self.params.batch), output)
        return Artifact(
            path=output, format=self.output_format, io=io,
            provenance=Provenance(producer=f"optimizer:{self.name}",
                                  tool_versions=openvino_tools.version(),
                                  duration_s=time.perf_counter() - started),
        )
