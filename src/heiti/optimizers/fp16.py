"""Half-precision ONNX: weights and arithmetic in float16, float32 inputs and outputs."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import Field

from heiti.core.artifact import Artifact, Provenance
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext


class Fp16Params(Params):
    keep_io_types: bool = Field(True, description="keep float32 model inputs and outputs")
    op_block_list: list[str] = Field([], description="operator types to keep in float32")


class Fp16(Optimizer):
    """Converts an ONNX model's float32 tensors to float16 (halves the file size; speed
    depends on the target's float16 support)."""

    name = "fp16"
    Params = Fp16Params
    input_formats = ("onnx",)
    output_format = "onnx-fp16"
    requires = ("onnx", "onnxruntime")
    extra = "onnx"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        started = time.perf_counter()
        converted = convert_float_to_float16(
            onnx.load(str(model.path)), keep_io_types=self.params.keep_io_types,
            op_block_list=self.params.op_block_list or None,
        )
        onnx.save(converted, str(output))
        io = model.io.model_copy(deep=True)
        if not self.params.keep_io_types:
            for spec in io.inputs + io.outputs:
                spec.dtype = "float16"
        return Artifact(
            path=output, format=self.output_format, io=io,
            provenance=Provenance(producer=f"optimizer:{self.name}",
                                  tool_versions={"onnx": onnx.__version__},
                                  duration_s=time.perf_counter() - started),
        )
