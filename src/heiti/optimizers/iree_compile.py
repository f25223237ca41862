"""ONNX to an IREE module (.vmfb): ONNX import to MLIR, then iree-compile for llvm-cpu."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import component_failures
from heiti.frameworks import native


class IreeCompileParams(Params):
    target_cpu: str = Field("host", description="LLVM CPU name ('host': this machine's CPU; "
                            "e.g. 'cortex-a55', 'generic')")
    target_triple: str | None = Field(
        None, description="LLVM triple, e.g. 'aarch64-linux-gnu' (None: this host); another "
        "architecture only compiles, this host will not run the module")
    batch: int = Field(1, ge=1, description="batch size compiled in (static shapes)")
    opset: int | None = Field(None, ge=7, description="upgrade the ONNX opset before import "
                              "(None: keep the model's)")
    extra_flags: list[str] = Field([], description="further iree-compile flags, e.g. "
                                   "['--iree-opt-level=O3']")


class IreeCompile(Optimizer):
    """Compiles an ONNX model to an IREE module (.vmfb) for the llvm-cpu backend.

    The model is imported to MLIR (torch-mlir's ONNX importer), then compiled into a
    ``.vmfb`` module holding native code for the host CPU or a named CPU/triple (another
    architecture: compile only)."""

    name = "iree-compile"
    Params = IreeCompileParams
    input_formats = ("onnx",)
    output_format = "iree"
    file_suffix = ".vmfb"
    requires = ("iree.compiler", "onnx")
    extra = "iree"

    def output_format_for(self, input_format: str) -> str:
        return native.cross_format(self.output_format, self.params.target_triple)

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import iree.compiler as ireec

        io = native.fixed_batch(model.io, self.params.batch)
        flags = [f"--iree-llvmcpu-target-cpu={self.params.target_cpu}", *self.params.extra_flags]
        if self.params.target_triple:
            flags.append(f"--iree-llvmcpu-target-triple={self.params.target_triple}")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="heiti-iree-") as tmp:
            mlir = self._import(model, io, Path(tmp))
            with component_failures(f"{self.name} compilation"):
                ireec.compile_file(str(mlir), target_backends=["llvm-cpu"], extra_args=flags,
                                   output_file=str(output))
        return Artifact(
            path=output, format=self.output_format_for(model.format), io=io,
            provenance=native.native_provenance(
                self.name, started, native.package_versions("iree-base-compiler", "onnx"),
                backend="llvm-cpu", target_cpu=self.params.target_cpu,
                target_triple=self.params.target_triple or native.host_arch(),
                cross_compiled=native.is_cross(self.params.target_triple), flags=flags),
        )

    def _import(self, model: Artifact, io, tmp: Path) -> Path:
        """ONNX with the batch fixed -> MLIR (torch dialect) through IREE's importer."""
        import onnx
        from iree.compiler.tools.import_onnx.__main__ import main, parse_arguments

        proto = onnx.load(str(model.path))
        specs = {spec.name: spec for spec in io.inputs + io.outputs}
        for value in list(proto.graph.input) + list(proto.graph.output):
            if value.name in specs:
                for dim, size in zip(value.type.tensor_type.shape.dim, specs[value.name].shape,
                                     strict=False):
                    dim.dim_value = size  # replaces a symbolic dimension
        static, mlir = tmp / "model.onnx", tmp / "model.mlir"
        onnx.save(proto, str(static))
        args = [str(static), "-o", str(mlir)]
        if self.params.opset:
            args += ["--opset-version", str(self.params.opset)]
        with component_failures(f"{self.name} ONNX import"):
            main(parse_arguments(args))
        return mlir
