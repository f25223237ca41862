"""A user's existing ONNX model, taken into the build directory after the ONNX checker."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from heiti.core.artifact import Artifact, Provenance, save_with_sidecar
from heiti.core.files import require_file, sha256_file
from heiti.core.steps import Model, StepContext
from heiti.errors import InputError


class OnnxFile(Model):
    """An existing ``.onnx`` file (``model.path`` in the scenario). It is checked with the
    ONNX checker and copied into the build directory; the original is never modified."""

    name = "onnx-file"
    output_format = "onnx"
    file_suffix = ".onnx"
    requires = ("onnx",)
    extra = "onnx"

    def prepare(self, path: Path, train: Any, ctx: StepContext, force: bool = False) -> Artifact:
        import onnx

        from heiti.frameworks import onnx_tools

        if train is not None:
            raise InputError("model.train: an 'onnx-file' model cannot be trained")
        require_file(path, given=path, what="model file")
        source_hash = sha256_file(path)
        model = onnx_tools.load_checked(path)
        target = ctx.build_dir / "model.onnx"
        existing = None if force else Artifact.cached(target)
        if existing and existing.provenance.input_sha256 == source_hash and existing.is_current():
            return existing
        io = onnx_tools.iospec(model, ctx.dataset.class_names)
        artifact = Artifact(
            path=target,
            format=self.output_format,
            io=io,
            provenance=Provenance(
                producer=f"model:{self.name}",
                input_sha256=source_hash,
                tool_versions={"onnx": onnx.__version__},
                details={"source": str(path), "producer_name": model.producer_name},
            ),
        )
        return save_with_sidecar(artifact, lambda tmp: shutil.copyfile(path, tmp))
