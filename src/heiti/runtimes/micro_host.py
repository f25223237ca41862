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
    engine through ctypes, one sample per call as on the device."""

    name = "micro-host"
    Params = MicroHostParams
    formats = ("c-int8",)

    def load(self, model: Artifact) -> None:
        from heiti.errors import InputError
        from heiti.micro.build import HostModel, host_library

        details = model.provenance.details
        missing = {"input_scale", "output_scale", "input_size", "output_size"} - set(details)
        if missing:
            raise InputError(f"micro-host: the sidecar of '{model.path}' lacks {sorted(missing)}",
                             hint="regenerate the artifact with the micro-c optimizer")
        self._input_scale, self._output_scale = details["input_scale"], details["output_scale"]
        self._output_zero_point = details.get("output_zero_point", 0)
        self._model = HostModel(host_library(model.path, self.params.compiler),
                                details["input_size"], details["output_size"])

    def prepare(self, batch: np.ndarray) -> Any:
        from heiti.micro.graph import raw_input

        raw = raw_input(batch, self._input_scale).reshape(len(batch), -1)
        return raw, np.empty((len(batch), self._model.output_size), dtype=np.int8)

    def infer(self, prepared: Any) -> Any:
        return self._model.run_batch(*prepared)

    def outputs(self, raw: Any) -> list[np.ndarray]:
        return [((raw.astype(np.float64) - self._output_zero_point) * self._output_scale).astype(np.float32)]
