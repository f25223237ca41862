"""The golden model of heiti micro: the exact integer semantics, in NumPy."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime


class MicroGolden(Runtime):
    """Runs an integer graph (micro-int8) with the NumPy golden interpreter: slow, but the
    reference every other implementation must match bit for bit. Takes the raw integer input
    (uint8, or an imported model's own int8) and returns the int8 output, as the device does."""

    name = "micro-golden"
    formats = ("micro-int8",)
    executes_native_code = False  # an integer graph interpreted in NumPy

    def load(self, model: Artifact) -> None:
        from heiti.micro.graph import Graph

        self.io = model.io
        self._graph = Graph.load(model.path)

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        from heiti.runtimes.micro_host import inputs_in_order

        graph = self._graph
        if len(graph.inputs) == 1:
            return np.asarray(self.only_input(inputs), dtype=graph.tensors[graph.input].dtype)
        batches = inputs_in_order(self, inputs)  # bound by the IO specification's names
        return [np.asarray(batch, dtype=graph.tensors[name].dtype)
                for batch, name in zip(batches, graph.inputs, strict=True)]

    def infer(self, prepared: Any) -> Any:
        from heiti.micro import golden

        return golden.run_outputs(self._graph, prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs([np.asarray(values, dtype=np.int8) for values in raw])
