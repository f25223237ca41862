"""int8 .tflite models (litert-convert output or a user's own file) into heiti micro."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError


class MicroImportTfliteParams(Params):
    input_scale: float | None = Field(
        None, gt=0, description="unused: the input travels as the model's own int8, with the "
        "model's scale and zero point (kept so that older scenarios stay valid)")


class MicroImportTflite(Optimizer):
    """Imports a fully int8 ``.tflite`` model into heiti micro's integer graph in the
    ``tflite`` scheme: the int8 input and output (raw integers with the model's zero points,
    NHWC or NCHW samples), int8 weights, int32 biases, scales and zero points are kept and the
    multipliers derived as TensorFlow Lite Micro derives them, so the generated C computes
    TFLM's integers bit for bit. Unsupported operators are named with what is supported."""

    name = "micro-import-tflite"
    Params = MicroImportTfliteParams
    input_formats = ("tflite", "tflite-int8")  # a float model is rejected with the reason
    output_format = "micro-int8"
    file_suffix = ".npz"
    requires = ("tflite_micro",)
    extra = "tflm"

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        from importlib.metadata import version

        from heiti.micro.steps import graph_artifact
        from heiti.micro.tflite_import import import_tflite

        # a quantized model needs no calibration data: any dataset size, any split
        samples = ctx.dataset.split("all")
        if len(samples.inputs) == 1:
            shapes: Any = samples.x.shape[1:]
        else:  # several inputs: bound by the IO specification's names, in its order
            missing = [spec.name for spec in model.io.inputs if spec.name not in samples.inputs]
            if missing:
                raise InputError(f"micro-import-tflite: the dataset has no input {missing[0]!r} "
                                 f"(it has {', '.join(samples.inputs)})",
                                 hint="name the dataset's inputs as the model's IO specification does")
            shapes = [samples.inputs[spec.name].shape[1:] for spec in model.io.inputs]
        graph = import_tflite(model.path, shapes)
        ctx.log(f"micro-import-tflite: {len(graph.ops)} operators, {graph.weight_bytes()} weight bytes")
        return graph_artifact(graph, output, model, self.name, {"source": "tflite"},
                              {"tflite-micro": version("tflite-micro")})
