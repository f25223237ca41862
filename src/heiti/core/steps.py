"""Models, optimizers, runtimes and targets: the interfaces the flow drives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from heiti.core.artifact import Artifact
from heiti.core.component import Component
from heiti.core.dataset import Dataset


@dataclass
class StepContext:
    """What a step may use besides its input: the data, the seed, where to write."""

    dataset: Dataset
    build_dir: Path
    seed: int = 0
    log: Any = field(default=print)


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


class Runtime(Component):
    """Runs inference on artifacts of the formats it supports.

    The inference loop calls ``prepare`` (untimed), ``infer`` (timed: one call into
    the framework and nothing else) and ``outputs`` (untimed), so that latency
    figures measure the runtime, not heiti.
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

    def load(self, model: Artifact) -> None:
        raise NotImplementedError

    def prepare(self, batch: np.ndarray) -> Any:
        return batch

    def infer(self, prepared: Any) -> Any:
        raise NotImplementedError

    def send_ahead(self, prepared: Any) -> None:
        """Hand over the input of the next ``infer`` call early (only when ``pipelined``)."""

    def outputs(self, raw: Any) -> list[np.ndarray]:
        return [np.asarray(r) for r in raw]

    def versions(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        pass


class Target(Component):
    """Where inference runs and how to reach it."""

    kind = "target"
    runs_runtime_here: ClassVar[bool] = True  # False: the runtime's extras are the device's concern

    def open(self, runtime: Runtime, model: Artifact) -> Runtime:
        """Return an object with the runtime interface that executes on this target."""
        raise NotImplementedError

    def environment(self) -> dict[str, Any]:
        return {}
