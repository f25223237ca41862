"""LiteRT (TensorFlow Lite) interpreter on the CPU, for float and int8 ``.tflite`` models."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime, ThreadsParams


class LitertParams(ThreadsParams):
    """Threads of the interpreter (XNNPACK)."""


class LitertRuntime(Runtime):
    """The LiteRT interpreter (ai-edge-litert, XNNPACK on the CPU) for ``.tflite`` models, float
    or int8 (an int8 model takes and gives raw integers; the flow (de)quantizes them with each
    tensor's scale and zero point, outside the timed call)."""

    name = "litert"
    Params = LitertParams
    formats = ("tflite", "tflite-int8")
    executes_native_code = False  # a graph of the interpreter's built-in operators
    requires = ("ai_edge_litert",)
    extra = "litert"
    no_profiler_reason = ("ai-edge-litert's Python interpreter exposes no op profiler; LiteRT's "
                          "benchmark_model tool has one")

    def load(self, model: Artifact) -> None:
        from heiti.frameworks import litert_tools

        self.io = model.io
        self._interpreter = litert_tools.interpreter(model.path, self.thread_count())
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        signature = self._input.get("shape_signature", self._input["shape"])
        # a static batch is padded to; a dynamic one (-1) is resized to each batch's size
        self._batch = int(signature[0]) if len(signature) and signature[0] > 0 else None

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        from heiti.frameworks.batching import pad_to

        batch = self.only_input(inputs)
        padded, rows = pad_to(batch, self._batch)
        if self._batch is None and self._input["shape"][0] != rows:
            self._interpreter.resize_input_tensor(self._input["index"], list(batch.shape))
            self._interpreter.allocate_tensors()
            self._input = self._interpreter.get_input_details()[0]
        return np.ascontiguousarray(padded, dtype=self._input["dtype"]), rows

    def infer(self, prepared: Any) -> Any:
        x, rows = prepared
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        return [self._interpreter.get_tensor(o["index"]) for o in self._outputs], rows

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        values, rows = raw
        return self.named_outputs([v[:rows] for v in values])

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"ai-edge-litert": version("ai-edge-litert")}

    def close(self) -> None:
        self._interpreter = None
        super().close()
