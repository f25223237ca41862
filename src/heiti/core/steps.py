"""Models, optimizers, runtimes and targets: the interfaces the flow drives."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, ValidationError

from heiti.core.artifact import Artifact
from heiti.core.cache import ArtifactStore
from heiti.core.component import Component, Params
from heiti.core.dataset import Dataset
from heiti.core.iospec import IOSpec
from heiti.errors import InputError, RunFailed


@dataclass
class StepContext:
    """What a step may use besides its input: the data, the seed, where to write, the
    artifact store shared with other builds and the scenario building (core.build)."""

    dataset: Dataset
    build_dir: Path
    seed: int = 0
    log: Any = field(default=print)
    store: ArtifactStore | None = None
    scenario: str | None = None


class Model(Component):
    """A model source: builds and trains a network, or loads a user's model file."""

    kind = "model"
    output_format: ClassVar[str] = ""
    file_suffix: ClassVar[str] = ""

    def prepare(self, path: Path, train: Any, ctx: StepContext, force: bool = False) -> Artifact:
        """Return the model as an artifact at ``path``, training it when needed."""
        raise NotImplementedError


class Optimizer(Component):
    """One model-to-model step with declared input and output formats."""

    kind = "optimizer"
    input_formats: ClassVar[tuple[str, ...]] = ()
    output_format: ClassVar[str | None] = None  # None: the step keeps its input's format
    file_suffix: ClassVar[str] = ".onnx"
    # a conversion between frameworks (torch -> onnx, torch -> tflite): the chain check may
    # insert it, with default parameters, where a scenario's chain has a format gap
    converts: ClassVar[bool] = False
    # named parameter sets besides the defaults that change the output format, e.g.
    # {"int8": {"quantization": "int8"}}; ``heiti matrix`` tries each
    variants: ClassVar[dict[str, dict[str, Any]]] = {}

    def output_format_for(self, input_format: str) -> str:
        return self.output_format or input_format

    @classmethod
    def outputs_for(cls, input_format: str) -> list[tuple[dict[str, Any], str]]:
        """(parameters, output format) for the defaults and each variant, given an input;
        parameter sets that do not validate on their own (a required parameter) are left out."""
        if input_format not in cls.input_formats:
            return []
        found = []
        for params in ({}, *cls.variants.values()):
            try:
                found.append((params, cls(params).output_format_for(input_format)))
            except ValidationError:
                continue
        return found

    def optimize(self, model: Artifact, output: Path, ctx: StepContext) -> Artifact:
        """Write the optimized model to ``output`` and return it (the flow saves the sidecar)."""
        raise NotImplementedError


@dataclass
class LayerTime:
    """One layer's share of an inference, from a runtime's own profiler."""

    name: str
    op_type: str
    mean_ms: float  # per inference, averaged over the profiled calls
    # the model's own nodes this layer computes (several when fused), when the runtime can say
    nodes: list[str] = field(default_factory=list)


class ThreadsParams(Params):
    threads: int = Field(1, ge=0, description="inference threads: N, or 0 for one per core "
                         "(the same meaning in every runtime)")


class Runtime(Component):
    """Runs inference on artifacts of the formats it supports, on named tensors.

    ``load`` keeps the artifact's IO specification in ``io``. The inference loop then
    calls ``prepare`` (untimed) with the model's inputs by name, ``infer`` (timed: one
    call into the framework and nothing else) and ``outputs`` (untimed), which returns
    every output by name, so that latency figures measure the runtime, not heiti.
    """

    kind = "runtime"
    formats: ClassVar[tuple[str, ...]] = ()
    # True when ``send_ahead`` lets the runtime start on the next input before the current
    # ``infer`` returns (a remote target that should never wait on the link)
    pipelined: bool = False
    # True when loading an artifact runs machine code the artifact holds (a shared library,
    # an embedded ELF) or compiles from sources it holds: `heiti server` refuses such
    # runtimes unless its operator passed --allow-native-code (docs/security.md)
    executes_native_code: ClassVar[bool] = False
    # parameters only the server's operator may choose (a compiler path): a remote client
    # setting one is refused
    operator_parameters: ClassVar[tuple[str, ...]] = ()
    # True when ``profile_layers`` works: the framework has a per-layer profiler
    profiles_layers: ClassVar[bool] = False
    # why not, when the framework has a profiler that heiti cannot reach
    no_profiler_reason: ClassVar[str] = ""
    io: IOSpec

    def load(self, model: Artifact) -> None:
        raise NotImplementedError

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        return inputs

    def infer(self, prepared: Any) -> Any:
        raise NotImplementedError

    def send_ahead(self, prepared: Any) -> None:
        """Hand over the input of the next ``infer`` call early (only when ``pipelined``)."""

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs(raw)

    def ordered_inputs(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The inputs in the order of the IO specification (for positional frameworks)."""
        return [inputs[spec.name] for spec in self.io.inputs]

    def only_input(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The input of a runtime that supports single-input models only."""
        if len(inputs) != 1:
            raise InputError(f"runtime '{self.name}' runs single-input models; this one has "
                             f"{len(inputs)} inputs ({', '.join(inputs)})")
        return next(iter(inputs.values()))

    def named_outputs(self, arrays: Sequence[Any]) -> dict[str, np.ndarray]:
        """Name positional outputs after the IO specification's outputs, in order."""
        names = [spec.name for spec in self.io.outputs]
        if len(arrays) != len(names):
            raise RunFailed(f"runtime '{self.name}' returned {len(arrays)} outputs, the model's "
                            f"IO specification lists {len(names)} ({', '.join(names)})")
        return {name: np.asarray(a) for name, a in zip(names, arrays, strict=True)}

    def versions(self) -> dict[str, str]:
        return {}

    def profile_layers(self, model: Artifact, inputs: dict[str, np.ndarray],
                       runs: int) -> list[LayerTime]:
        """Load ``model`` with the framework's profiler on, run ``inputs`` ``runs`` times and
        return the mean time of each layer, slowest first (then close)."""
        raise InputError(self.no_profiler_message(), hint="leave --profile out, or use a runtime "
                         "that has one (see docs/cli-benchmark.md)")

    @classmethod
    def no_profiler_message(cls) -> str:
        reason = f" ({cls.no_profiler_reason})" if cls.no_profiler_reason else ""
        return f"runtime '{cls.name}' has no per-layer profiler{reason}"

    def thread_count(self) -> int:
        """``threads`` resolved: 0 means one per core, for every runtime alike."""
        return getattr(self.params, "threads", 1) or os.cpu_count() or 1

    def restore_on_close(self, undo: Callable[[], None]) -> None:
        """Register how to undo a change of process-wide state (a thread pool size, an
        environment variable) made while loading; ``close`` undoes them, newest first."""
        self.__dict__.setdefault("_undo", []).append(undo)

    def close(self) -> None:
        """Release the model; subclasses that override this call ``super().close()``."""
        for undo in reversed(self.__dict__.pop("_undo", [])):
            undo()


class Target(Component):
    """Where inference runs and how to reach it."""

    kind = "target"
    runs_runtime_here: ClassVar[bool] = True  # False: the runtime's extras are the device's concern

    def open(self, runtime: Runtime, model: Artifact) -> Runtime:
        """Return an object with the runtime interface that executes on this target."""
        raise NotImplementedError

    def environment(self) -> dict[str, Any]:
        return {}
