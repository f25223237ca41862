"""ONNX Runtime on the CPU."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import LayerTime, Runtime, ThreadsParams
from heiti.frameworks.layer_names import node_tracer

_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


class OnnxRuntimeParams(ThreadsParams):
    graph_optimization: Literal["disabled", "basic", "extended", "all"] = "all"


class OnnxRuntime(Runtime):
    """ONNX Runtime with the CPU execution provider, for fp32, fp16 and int8 (QDQ) models."""

    name = "onnxruntime"
    Params = OnnxRuntimeParams
    formats = ("onnx", "onnx-int8", "onnx-fp16")
    executes_native_code = False  # a graph of ONNX Runtime's own operators
    requires = ("onnxruntime",)
    extra = "onnx"
    profiles_layers = True
    _profile_prefix: str | None = None

    def load(self, model: Artifact) -> None:
        import onnxruntime as ort

        self.io = model.io
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.thread_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _LEVELS[self.params.graph_optimization])
        if self._profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = self._profile_prefix
        self._session = ort.InferenceSession(str(model.path), options,
                                             providers=["CPUExecutionProvider"])
        self._input_dtypes = {i.name: _numpy_dtype(i.type) for i in self._session.get_inputs()}
        self._output_names = [o.name for o in self._session.get_outputs()]

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        return {name: np.ascontiguousarray(inputs[name], dtype=dtype)
                for name, dtype in self._input_dtypes.items()}

    def infer(self, prepared: Any) -> Any:
        return self._session.run(self._output_names, prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return dict(zip(self._output_names, raw, strict=True))

    def versions(self) -> dict[str, str]:
        import onnxruntime as ort

        return {"onnxruntime": ort.__version__}

    def profile_layers(self, model: Artifact, inputs: dict[str, np.ndarray],
                       runs: int) -> list[LayerTime]:
        """ONNX Runtime's profiler: the kernel time of each node of the optimized graph; the
        first call (allocations, the profiler starting) is left out."""
        with tempfile.TemporaryDirectory(prefix="heiti-ort-profile-") as folder:
            self._profile_prefix = str(Path(folder) / "ort")
            try:
                self.load(model)
                prepared = self.prepare(inputs)
                for _ in range(runs + 1):
                    self.infer(prepared)
                events = json.loads(Path(self._session.end_profiling()).read_text())
            finally:
                self._profile_prefix = None
                self.close()
        layers = _node_times(events, runs)
        trace = node_tracer(model.path)
        for layer in layers:
            layer.nodes = trace(layer.name)
        return layers

    def close(self) -> None:
        self._session = None
        super().close()


def _node_times(events: list[dict[str, Any]], runs: int) -> list[LayerTime]:
    """Mean kernel time per node over the profiled runs after the first."""
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    after = starts[1] if len(starts) > 1 else 0
    total_us: dict[str, float] = defaultdict(float)
    op_types: dict[str, str] = {}
    for event in events:
        name = event.get("name", "")
        if event.get("cat") == "Node" and name.endswith("_kernel_time") and event["ts"] >= after:
            node = name.removesuffix("_kernel_time")
            total_us[node] += event["dur"]
            op_types[node] = event.get("args", {}).get("op_name", "")
    layers = [LayerTime(node, op_types[node], us / 1000 / runs) for node, us in total_us.items()]
    return sorted(layers, key=lambda layer: -layer.mean_ms)


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """The numpy dtype of an ONNX Runtime type string such as ``tensor(float)``."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))
