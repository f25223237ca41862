"""ONNX to native code with Apache TVM (Relax): import, optional tuning, LLVM code generation."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import psutil
from pydantic import Field, field_validator, model_validator

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Optimizer, StepContext
from heiti.errors import InputError, component_failures
from heiti.frameworks import native

# options of TVM's LLVM target that a scenario may set (TVM's own names)
_TARGET_OPTIONS = ("mcpu", "mtriple", "mattr", "mabi", "mfloat-abi", "num-cores")


class TvmCompileParams(Params):
    target: str = Field(
        "llvm", description="LLVM target in command-line form: 'llvm' (this host), "
        "'llvm -mcpu=skylake-avx512', 'llvm -mtriple=aarch64-linux-gnu -mattr=+neon'; a triple "
        "of another architecture only compiles (an object archive for that device)")
    batch: int = Field(1, ge=1, description="batch size compiled in (TVM compiles static shapes)")
    tune_trials: int = Field(
        0, ge=0, description="auto-tuning budget: measured schedule candidates in total "
        "(MetaSchedule on this host; 0: no tuning, TVM's default schedules)")
    tune_trials_per_task: int = Field(16, ge=1, description="tuning candidates per fused operator")

    @field_validator("target")
    @classmethod
    def _parse(cls, value: str) -> str:
        parse_target(value)
        return " ".join(value.split())

    @model_validator(mode="after")
    def _tune_on_host_only(self) -> TvmCompileParams:
        if self.tune_trials and native.is_cross(parse_target(self.target).get("mtriple")):
            raise ValueError("tuning measures candidates on this host, so it cannot tune for "
                             "another architecture: set tune_trials to 0")
        return self


def parse_target(text: str) -> dict:
    """'llvm -mcpu=x -mattr=+a,+b' -> TVM's target dictionary (TVM 0.27 takes dicts only)."""
    kind, *options = text.split()
    if kind != "llvm":
        raise ValueError(f"target kind '{kind}' is not supported: tvm-compile generates CPU code "
                         "through LLVM; start the target with 'llvm'")
    target: dict = {"kind": "llvm"}
    for option in options:
        key, eq, value = option.lstrip("-").partition("=")
        if not option.startswith("-") or not eq or not value:
            raise ValueError(f"target option '{option}' is not of the form -name=value")
        if key not in _TARGET_OPTIONS:
            raise ValueError(f"target option '-{key}' is not supported (supported: "
                             + ", ".join(f"-{o}" for o in _TARGET_OPTIONS) + ")")
        target[key] = value.split(",") if key == "mattr" else int(value) if key == "num-cores" else value
    return target


class TvmCompile(Optimizer):
    """Compiles an ONNX model to native code with Apache TVM (Relax, LLVM).

    Steps: Relax ONNX import, optional MetaSchedule auto-tuning, LLVM code generation;
    exports a shared library for this host or, for another architecture's triple, an
    object archive (compile only).

    The result is native code: loading it executes it. Its provenance says
    ``native_code: true`` so that servers refuse it unless allowed to run native code.
    """

    name = "tvm-compile"
    Params = TvmCompileParams
    input_formats = ("onnx",)
    output_format = "tvm"
    file_suffix = ".so"
    requires = ("tvm", "onnx")
    extra = "tvm"

    def __init__(self, params=None, base_dir: Path | None = None):
        super().__init__(params, base_dir)
        self.target = parse_target(self.params.target)
        self.cross = native.is_cross(self.target.get("mtriple"))
        if self.cross:
            self.file_suffix = ".tar"  # an instance attribute: the chain names the output with it

    def output_format_for(self, input_format: str) -> str:
        return native.cross_format(self.output_format, self.target.get("mtriple"))

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        import onnx
        import tvm
        from tvm import relax
        from tvm.relax.frontend.onnx import from_onnx

        if not self.cross and not (shutil.which("g++") or shutil.which("cc")):
            raise InputError("tvm-compile needs a C compiler to link the shared library, and none "
                             "was found", hint="install g++ (apt-get install g++)")
        io = native.fixed_batch(model.io, self.params.batch)
        self._records: int | None = None
        started = time.perf_counter()
        if self.params.tune_trials and "num-cores" not in self.target:
            self.target["num-cores"] = psutil.cpu_count(logical=False) or 1  # tuning needs it
        with component_failures("tvm-compile compilation"):
            target = tvm.target.Target(self.target)
            self._check_cpu(tvm, target)
            mod = from_onnx(onnx.load(str(model.path)), shape_dict=native.input_shapes(io))
            if self.params.tune_trials:
                mod = self._tune(relax, mod, target, output, ctx)
            executable = tvm.compile(mod, target=target)
            executable.export_library(str(output))
        triple = self.target.get("mtriple") or tvm.target.codegen.llvm_get_system_triple()
        ctx.log(f"tvm-compile: {'object archive for ' + triple if self.cross else 'shared library'}"
                f"{f', tuned with {self.params.tune_trials} trials' if self.params.tune_trials else ''}")
        return Artifact(
            path=output, format=self.output_format_for(model.format), io=io,
            provenance=native.native_provenance(
                self.name, started, {"tvm": tvm.__version__, "onnx": onnx.__version__},
                target=self.target, target_triple=triple, cross_compiled=self.cross,
                library="object archive" if self.cross else "shared library",
                tuned_trials=self.params.tune_trials, tuning_records=self._records),
        )

    def _check_cpu(self, tvm, target) -> None:
        cpu = self.target.get("mcpu")
        triple = self.target.get("mtriple") or tvm.target.codegen.llvm_get_system_triple()
        if cpu and cpu != "native" and not tvm.target.codegen.llvm_is_valid_cpu(cpu, triple):
            raise InputError(f"tvm-compile: LLVM does not know the CPU '-mcpu={cpu}' for {triple}",
                             hint="see 'llc -mtriple=TRIPLE -mcpu=help' for the names")

    def _tune(self, relax, mod, target, output: Path, ctx: StepContext):
        work_dir = output.with_name(output.name + ".tuning")
        ctx.log(f"tvm-compile: tuning, {self.params.tune_trials} trials (log in {work_dir.name})")
        pipeline = relax.pipeline.static_shape_tuning_pipeline(
            total_trials=self.params.tune_trials, target=target, work_dir=str(work_dir),
            max_trials_per_task=self.params.tune_trials_per_task)
        mod = pipeline(mod)
        records = work_dir / "database_tuning_record.json"
        self._records = len(records.read_text().splitlines()) if records.is_file() else 0
        if not self._records:
            ctx.log("tvm-compile: warning: tuning measured no valid candidate (see the logs in "
                    f"{work_dir.name}); TVM's default schedules are used")
        return mod
