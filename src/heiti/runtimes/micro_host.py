"""Generated micro C, built for this host and called through ctypes."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Runtime


class MicroHostParams(Params):
    compiler: str = Field("gcc", description="host C compiler")


class MicroHost(Runtime):
    """Builds a c-int8 artifact for this host (cached by content hash) and runs the int8
    engine through ctypes, one sample per call as on the device: raw integers in (uint8, or an
    imported model's int8), int8 out."""

    name = "micro-host"
    Params = MicroHostParams
    formats = ("c-int8",)
    executes_native_code = True  # compiles the artifact's C and loads the library
    operator_parameters = ("compiler",)  # a client must not pick the program the server runs

    def load(self, model: Artifact) -> None:
        from heiti.errors import InputError
        from heiti.micro.build import HostModel, host_library

        self.io = model.io
        details = model.provenance.details
        missing = {"input_size", "output_size"} - set(details)
        if missing:
            raise InputError(f"micro-host: the sidecar of '{model.path}' lacks {sorted(missing)}",
                             hint="regenerate the artifact with the micro-c optimizer")
        self._model = HostModel(host_library(model.path, self.params.compiler),
                                details["input_size"], details["output_size"])

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        if len(self.io.inputs) == 1:
            batch = np.asarray(self.only_input(inputs))  # raw bytes: int8 as its two's complement
            raw = np.ascontiguousarray(batch.view(np.uint8) if batch.dtype == np.int8 else batch,
                                       dtype=np.uint8).reshape(len(batch), -1)
        else:  # several inputs: one after the other, as the device reads them
            from heiti.micro.graph import input_buffer

            raw = input_buffer([np.asarray(b) for b in inputs_in_order(self, inputs)])
        return raw, np.empty((len(raw), self._model.output_size), dtype=np.int8)

    def infer(self, prepared: Any) -> Any:
        return self._model.run_batch(*prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs(split_outputs(self.io, raw))


def inputs_in_order(runtime: Runtime, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """A model's several inputs in the IO specification's order, bound by its names."""
    from heiti.errors import InputError

    names = [spec.name for spec in runtime.io.inputs]
    if set(inputs) != set(names):
        raise InputError(f"runtime '{runtime.name}': the model's inputs are {', '.join(names)}, "
                         f"given {', '.join(inputs)}", hint="name the dataset's inputs as the model's")
    return [inputs[name] for name in names]


def split_outputs(io: Any, flat: np.ndarray) -> list[np.ndarray]:
    """The device's output buffers (N, all outputs' values one after the other) as one array per
    output of the IO specification, shaped as it says (one output: unchanged)."""
    if len(io.outputs) == 1:
        return [flat]
    sizes = [int(np.prod(spec.shape[1:])) for spec in io.outputs]
    parts = np.split(flat, np.cumsum(sizes)[:-1], axis=1)
    return [part.reshape(len(flat), *spec.shape[1:]) for part, spec in zip(parts, io.outputs, strict=True)]
