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
    output (heiti quantizes and dequantizes with the tensors' scales and zero points); float
    values given to it are quantized rounding half away from zero, like TFLite's own quantization."""

    name = "tflm"
    Params = TflmParams
    formats = ("tflite", "tflite-int8")
    requires = ("tflite_micro",)
    extra = "tflm"

    def load(self, model: Artifact) -> None:
        from tflite_micro.python.tflite_micro import runtime

        from heiti.errors import InputError

        try:
            self._interpreter = runtime.Interpreter.from_file(str(model.path),
                                                              arena_size=self.params.arena_bytes)
        except (RuntimeError, ValueError) as exc:
            raise InputError(f"tflm: cannot load '{model.path}': {exc}",
                             hint="TFLM runs .tflite models whose operators it has kernels for") from None
        self._input = _details(self._interpreter.get_input_details(0))
        self._output = _details(self._interpreter.get_output_details(0))
        self._raw_output = model.io.outputs[0].raw_integers  # heiti dequantizes it

    def prepare(self, batch: np.ndarray) -> Any:
        dtype, shape, scale, zero_point = self._input
        if np.asarray(batch).dtype == np.dtype(dtype):  # raw integers already
            return np.ascontiguousarray(batch).reshape(len(batch), *shape[1:])
        x = np.asarray(batch, dtype=np.float64).reshape(len(batch), *shape[1:])
        if np.dtype(dtype).kind == "f":
            return x.astype(dtype)
        info = np.iinfo(dtype)
        q = np.sign(x / scale) * np.floor(np.abs(x / scale) + 0.5) + zero_point
        return np.clip(q, info.min, info.max).astype(dtype)

    def infer(self, prepared: Any) -> Any:
        results = []
        for sample in prepared:
            self._interpreter.set_input(sample[None], 0)
            self._interpreter.invoke()
            results.append(self._interpreter.get_output(0)[0].copy())
        return np.stack(results)

    def outputs(self, raw: Any) -> list[np.ndarray]:
        dtype, _, scale, zero_point = self._output
        if np.dtype(dtype).kind == "f" or self._raw_output:
            return [raw]
        return [((raw.astype(np.float64) - zero_point) * scale).astype(np.float32)]

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"tflite-micro": version("tflite-micro")}

    def close(self) -> None:
        self._interpreter = None
        super().close()


def _details(detail: dict[str, Any]) -> tuple[Any, tuple[int, ...], float, int]:
    """(dtype, shape, scale, zero point) of a tensor: scale 0 when it is not quantized."""
    q = detail.get("quantization_parameters") or {}
    scales, zero_points = q.get("scales", []), q.get("zero_points", [])
    scale = float(scales[0]) if len(scales) else 0.0
    return detail["dtype"], tuple(int(d) for d in detail["shape"]), scale, int(zero_points[0]) if scale else 0
