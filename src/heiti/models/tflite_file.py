"""A user's existing LiteRT / TensorFlow Lite model, taken into the build directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from heiti.core.artifact import Artifact, Provenance, save_with_sidecar
from heiti.core.files import require_file, sha256_file
from heiti.core.iospec import IOSpec
from heiti.core.steps import Model, StepContext
from heiti.errors import InputError


class TfliteFile(Model):
    """An existing ``.tflite`` file (``model.path`` in the scenario), float or int8; int8
    inputs and outputs keep their scale and zero point in the IO specification. It is
    loaded once to read its tensors and copied into the build directory."""

    name = "tflite-file"
    output_format = "tflite"  # the artifact says tflite-int8 when its input is quantized
    file_suffix = ".tflite"
    requires = ("ai_edge_litert",)
    extra = "litert"

    def prepare(self, path: Path, train: Any, ctx: StepContext, force: bool = False) -> Artifact:
        from heiti.frameworks.litert_tools import tensor_specs

        if train is not None:
            raise InputError("model.train: a 'tflite-file' model cannot be trained")
        require_file(path, given=path, what="model file")
        source_hash = sha256_file(path)
        target = ctx.build_dir / "model.tflite"
        existing = None if force else Artifact.cached(target)
        if existing and existing.provenance.input_sha256 == source_hash and existing.is_current():
            return existing
        try:
            inputs, outputs = tensor_specs(path)
        except (ValueError, RuntimeError) as exc:
            raise InputError(f"'{path}' is not a loadable .tflite model: {exc}") from None
        quantized = inputs and inputs[0].scale is not None
        artifact = Artifact(
            path=target, format="tflite-int8" if quantized else "tflite",
            io=IOSpec(inputs=inputs, outputs=outputs, class_names=ctx.dataset.class_names),
            provenance=Provenance(producer=f"model:{self.name}", input_sha256=source_hash,
                                  details={"source": str(path)}),
        )
        return save_with_sidecar(artifact, lambda tmp: shutil.copyfile(path, tmp))
