"""TensorFlow Lite Micro's reference kernels on the host, through the tflite-micro package."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Runtime


class TflmParams(Params):
    arena_bytes: int | None = Field(None, ge=1024, description="tensor arena size (default: 10x the "
                                    "model file, as the tflite-micro package chooses)")


class TflmRuntime(Runtime):
    """TensorFlow Lite Micro (TFLM) with its portable reference kernels, one sample per
    ``invoke`` as on a microcontroller: the oracle that heiti micro's ``tflite`` scheme is
    checked against bit for bit. An int8 model takes its raw int8 input and gives its raw int8
    output (heiti quantizes and dequantizes with the tensors' scales and zero points)."""

    name = "tflm"
    Params = TflmParams
    formats = ("tflite", "tflite-int8")
    requires = ("tflite_micro",)
    preload = ("tflite_micro.python.tflite_micro.runtime",)  # imported ahead by heiti server
    extra = "tflm"

    def load(self, model: Artifact) -> None:
        from tflite_micro.python.tflite_micro import runtime

        from heiti.errors import InputError
        from heiti.frameworks.tflite_verify import read_verified

        self.io = model.io
        read_verified(model.path, "tflm")  # TFLM itself trusts every offset in the file
        try:
            self._interpreter = runtime.Interpreter.from_file(str(model.path),
                                                              arena_size=self.params.arena_bytes)
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"tflm: cannot load '{model.path}': {exc}",
                             hint="TFLM runs .tflite models whose operators it has kernels for") from None
        detail = self._interpreter.get_input_details(0)
        self._dtype, self._shape = detail["dtype"], tuple(int(d) for d in detail["shape"])

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        batch = self.only_input(inputs)
        return np.ascontiguousarray(batch, dtype=self._dtype).reshape(len(batch), *self._shape[1:])

    def infer(self, prepared: Any) -> Any:
        count = len(self.io.outputs)
        results: list[list[np.ndarray]] = [[] for _ in range(count)]
        for sample in prepared:
            self._interpreter.set_input(sample[None], 0)
            self._interpreter.invoke()
            for index in range(count):  # every output, in the IO specification's order
                results[index].append(self._interpreter.get_output(index)[0].copy())
        return [np.stack(r) for r in results]

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs(raw)

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"tflite-micro": version("tflite-micro")}

    def close(self) -> None:
        self._interpreter = None
        super().close()
