"""A bare model file timed with synthetic inputs of its own IO specification
(``heiti benchmark``): no scenario, no dataset, the same inference loop as ``heiti test``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heiti import registry
from heiti.core.artifact import Artifact, Provenance
from heiti.core.files import require_file, sha256_file
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import LayerTime, Runtime, Target
from heiti.errors import InputError, component_failures
from heiti.pipeline.inference import latency_statistics, run_inference

Fill = Literal["random", "zeros"]
# a file's suffix -> (format, how to read its IO specification); heiti's own artifacts
# (any file or folder with a sidecar) are read from their sidecar instead
SUFFIXES = {".onnx": "onnx", ".tflite": "tflite", ".xml": "openvino"}
# synthetic inputs beyond this are refused: the loop keeps every batch in memory
MAX_INPUT_BYTES = 1 << 30


@dataclass
class BenchmarkResult:
    model: Artifact
    runtime: Runtime
    inputs: dict[str, list[int]]  # the shapes fed, dynamic dimensions resolved
    fill: str
    batch_size: int
    iterations: int
    warmup: int
    latencies_ns: np.ndarray
    versions: dict[str, str]
    target: str = "local"
    target_latencies_ns: np.ndarray | None = None  # measured by a remote target or board itself
    target_statistics: dict[str, Any] | None = None
    profile: list[LayerTime] = field(default_factory=list)
    profile_runs: int = 0

    def summary(self) -> dict[str, Any]:
        """The figures as plain values (the JSON and CSV outputs, the printed table)."""
        total_s = self.latencies_ns.sum() / 1e9
        layers_ms = sum(layer.mean_ms for layer in self.profile) or 1.0
        return {
            "model": str(self.model.path), "format": self.model.format,
            "size_bytes": self.model.size_bytes,
            "runtime": self.runtime.name,
            "runtime_parameters": self.runtime.params.model_dump(mode="json"),
            "versions": self.versions,
            "inputs": self.inputs, "fill": self.fill, "batch_size": self.batch_size,
            "iterations": self.iterations, "warmup": self.warmup,
            "target": self.target,
            "latency_ms": latency_statistics(self.latencies_ns),
            "target_latency_ms": None if self.target_latencies_ns is None
            else latency_statistics(self.target_latencies_ns),
            "target_statistics": self.target_statistics,
            "throughput_sps": self.batch_size * self.iterations / total_s if total_s else None,
            "profile": [{**vars(layer), "share": layer.mean_ms / layers_ms}
                        for layer in self.profile],
            "profile_runs": self.profile_runs,
        }


def load_model_file(path: Path) -> Artifact:
    """A model file (or a heiti artifact) with its format and IO specification."""
    path = Path(path)
    if Artifact.sidecar_exists(path):  # heiti's own artifact: its sidecar says everything
        return Artifact.load(path)
    require_file(path, what="model file")
    family = SUFFIXES.get(path.suffix.lower())
    if family is None:
        raise InputError(f"'{path}' is not a model file heiti benchmark reads (by suffix: "
                         f"{', '.join(SUFFIXES)}, or a heiti artifact with its sidecar .json)",
                         hint="export the model to ONNX, or benchmark a step's output in a build "
                              "folder (e.g. build/NAME/03-ort-quantize.onnx)")
    reader = {"onnx": _onnx_io, "tflite": _tflite_io, "openvino": _openvino_io}[family]
    io, fmt = reader(path)
    return Artifact(path=path, format=fmt, io=io, sha256=sha256_file(path),
                    size_bytes=path.stat().st_size,
                    provenance=Provenance(producer="heiti benchmark", details={"source": str(path)}))


def _onnx_io(path: Path) -> tuple[IOSpec, str]:
    registry.get("model", "onnx-file").check_available()
    from heiti.frameworks import onnx_tools

    return onnx_tools.iospec(onnx_tools.load_checked(path)), "onnx"


def _tflite_io(path: Path) -> tuple[IOSpec, str]:
    registry.get("model", "tflite-file").check_available()
    from heiti.frameworks.litert_tools import tensor_specs

    try:
        inputs, outputs = tensor_specs(path)
    except (ValueError, RuntimeError) as exc:
        raise InputError(f"'{path}' is not a loadable .tflite model: {exc}") from None
    quantized = bool(inputs) and inputs[0].scale is not None
    return IOSpec(inputs=inputs, outputs=outputs), "tflite-int8" if quantized else "tflite"


def _openvino_io(path: Path) -> tuple[IOSpec, str]:
    registry.get("runtime", "openvino").check_available()
    from heiti.frameworks import openvino_tools

    if not path.with_suffix(".bin").is_file():
        raise InputError(f"OpenVINO IR '{path}' has no weights file '{path.with_suffix('.bin').name}' "
                         "beside it", hint="keep the .xml and .bin of an IR together")
    return openvino_tools.iospec(path), "openvino"


def pick_target(text: str | None) -> Target:
    """``KIND[:KEY=VALUE,...]`` (``qemu:board=mps2-an386``, ``remote:port=12345``) as a
    target component; None: this host."""
    import yaml

    from heiti.scenario import ComponentSpec, instantiate

    kind, _, rest = (text or "local").partition(":")
    parameters: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--target: '{pair}' is not KEY=VALUE",
                             hint="e.g. --target qemu:board=mps2-an386 or --target remote:port=12345")
        parameters[key.strip()] = yaml.safe_load(value)
    return instantiate("target", ComponentSpec(type=kind, parameters=parameters), "--target",
                       Path.cwd(), what="argument")


def pick_runtime(model: Artifact, name: str | None, threads: int | None,
                 here: bool = True) -> Runtime:
    """The named runtime (checked against the model's format), or the first installed
    runtime that runs the format; ``here`` False: the runtime runs on a remote target, whose
    extras are its own concern."""
    runtimes = registry.components()["runtime"]
    able = [n for n, cls in sorted(runtimes.items()) if model.format in cls.formats]
    installed = [n for n in able if not here or not runtimes[n].missing_modules()]
    if name is None:
        if not installed:
            raise InputError(f"no installed runtime runs {model.format} models "
                             f"(runtimes that do: {', '.join(able) or 'none'})",
                             hint="install one, e.g. " + (
                                 f'pip install "heiti[{runtimes[able[0]].extra}]"' if able
                                 else "'heiti list --kind runtime'"))
        name = installed[0]
    cls = registry.get("runtime", name)
    if model.format not in cls.formats:
        raise InputError(f"runtime '{name}' does not run {model.format} models (it runs "
                         f"{', '.join(cls.formats)})",
                         hint=f"runtimes that run {model.format}: {', '.join(able) or 'none'}")
    if here:
        cls.check_available()
    params: dict[str, Any] = {}
    if threads is not None:
        if "threads" not in cls.Params.model_fields:
            raise InputError(f"runtime '{name}' has no thread setting", hint="leave --threads out")
        params["threads"] = threads
    return cls(params)


def input_shapes(io: IOSpec, batch: int, shapes: dict[str, list[int]]) -> dict[str, list[int]]:
    """Each input's shape: given with --shape, else the model's with the batch filled in."""
    unknown = set(shapes) - {spec.name for spec in io.inputs}
    if unknown:
        raise InputError(f"--shape names {', '.join(sorted(unknown))}, which the model does not "
                         f"have (its inputs: {', '.join(s.describe() for s in io.inputs)})")
    resolved = {}
    for spec in io.inputs:
        shape = shapes.get(spec.name) or spec.with_batch(batch)
        if any(d < 0 for d in shape):
            raise InputError(f"input {spec.describe()} has dynamic dimensions besides the batch",
                             hint=f"give its shape: --shape {spec.name}="
                                  + "x".join("1" if d < 0 else str(d) for d in spec.shape))
        resolved[spec.name] = shape
    return resolved


def synthetic_inputs(io: IOSpec, shapes: dict[str, list[int]], batches: int, fill: Fill,
                     seed: int = 0) -> dict[str, np.ndarray]:
    """``batches`` batches of every input, concatenated on the first axis: zeros, or
    random values over [0, 1) for floats and the whole range for integers (the raw
    integers of a quantized input)."""
    specs = {spec.name: spec for spec in io.inputs}
    total = sum(np.prod(shape) * np.dtype(specs[name].dtype).itemsize
                for name, shape in shapes.items()) * batches
    if total > MAX_INPUT_BYTES:
        raise InputError(f"the synthetic inputs of {batches} iterations would take "
                         f"{total / 2**20:.0f} MiB", hint="lower --iterations")
    rng = np.random.default_rng(seed)
    return {name: _fill(specs[name], [shape[0] * batches, *shape[1:]], fill, rng)
            for name, shape in shapes.items()}


def _fill(spec: TensorSpec, shape: list[int], fill: Fill, rng: np.random.Generator) -> np.ndarray:
    dtype = np.dtype(spec.dtype)
    if fill == "zeros":
        return np.zeros(shape, dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, shape).astype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.random(shape).astype(dtype)


def benchmark(model: Artifact, runtime: Runtime, fill: Fill = "random", iterations: int = 100,
              warmup: int = 10, batch: int = 1, shapes: dict[str, list[int]] | None = None,
              profile_runs: int = 0, target: Target | None = None) -> BenchmarkResult:
    """Time ``iterations`` calls of ``runtime`` on synthetic inputs; with ``profile_runs``,
    then profile as many calls per layer in a separate session (the profiler's overhead
    stays out of the latencies)."""
    shapes = input_shapes(model.io, batch, shapes or {})
    batch = next(iter(shapes.values()))[0] if shapes else batch
    inputs = synthetic_inputs(model.io, shapes, iterations, fill)
    target = target or registry.get("target", "local")()
    runs = f"runtime '{runtime.name}' on target '{target.name}'"
    with component_failures(f"{runs} loading '{model.path.name}'"):
        executor = target.open(runtime, model)
    try:
        with component_failures(runs):
            loop = run_inference(executor, inputs, batch, warmup)
        versions = executor.versions()
    finally:
        executor.close()
    result = BenchmarkResult(model, runtime, shapes, fill, batch, iterations, warmup,
                             loop.latencies_ns, versions, target.name, loop.target_latencies_ns,
                             getattr(executor, "target_statistics", None))
    if profile_runs:
        first = {name: a[:batch] for name, a in inputs.items()}
        result.profile = profile_layers(runtime, model, first, profile_runs)
        result.profile_runs = profile_runs
    return result


def profiling_runtimes() -> list[str]:
    """Runtimes that give per-layer times (``--profile``)."""
    return sorted(n for n, cls in registry.components()["runtime"].items() if cls.profiles_layers)


def check_profiler(runtime: Runtime, target: Target, option: str) -> None:
    """Refuse ``option`` (the CLI's or the scenario's setting) before anything runs when the
    runtime has no profiler or runs elsewhere."""
    if target.name != "local":
        raise InputError(f"{option} profiles on this host only",
                         hint=f"leave the target or {option} out")
    if not runtime.profiles_layers:
        raise InputError(runtime.no_profiler_message(), hint=f"leave {option} out, or use a "
                         "runtime with one: " + ", ".join(profiling_runtimes()))


def profile_layers(runtime: Runtime, model: Artifact, inputs: dict[str, np.ndarray],
                   runs: int) -> list[LayerTime]:
    """``runs`` profiled calls on ``inputs`` in a fresh session of ``runtime``'s kind, so the
    profiler's overhead stays out of the timed session's latencies."""
    with component_failures(f"runtime '{runtime.name}' profiling"):
        return type(runtime)(runtime.params).profile_layers(model, inputs, runs)
