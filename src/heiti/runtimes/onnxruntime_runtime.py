"""ONNX Runtime on the CPU."""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import LayerTime, Runtime, ThreadsParams

_LEVELS = {"disabled": "ORT_DISABLE_ALL", "basic": "ORT_ENABLE_BASIC",
           "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}
# operators ONNX Runtime fuses into the convolution or matrix product before them
_FUSED_AFTER = {"Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Add"}


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
        resolve = _model_nodes(model.path)
        for layer in layers:
            layer.nodes = resolve(layer.name)
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


def _model_nodes(path: Path) -> Callable[[str], list[str]]:
    """The model's nodes behind a node name of ONNX Runtime's optimized graph: the name
    itself, ``fused NAME`` (with the activation fused after it), ``TENSOR_nchwc`` (the node
    that computes TENSOR, with the convolution an activation was fused into) or ``NAME_quant``
    (a QDQ group); none for nodes ONNX Runtime adds (layout reorders)."""
    import onnx

    nodes = onnx.load(str(path), load_external_data=False).graph.node
    by_name = {node.name: node for node in nodes if node.name}
    producer = {tensor: node for node in nodes for tensor in node.output}
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in nodes:
        for tensor in node.input:
            readers[tensor].append(node)

    def fused_into(node: Any) -> Any:  # the single-reader node an activation was fused into
        before = producer.get(node.input[0]) if node.input else None
        return before if before is not None and len(readers[before.output[0]]) == 1 else None

    def resolve(name: str) -> list[str]:
        if name.startswith("fused "):  # FusedConv, FusedGemm: the node and its activation
            node = by_name.get(name.removeprefix("fused "))
            after = readers[node.output[0]] if node is not None else []
            tail = after if len(after) == 1 and after[0].op_type in _FUSED_AFTER else []
            chain = [node, *tail] if node is not None else []
        elif name.endswith("_nchwc") and name.removesuffix("_nchwc") in producer:
            # named after its output tensor: back to the convolution an activation joined
            chain = [producer[name.removesuffix("_nchwc")]]
            while chain[0].op_type in _FUSED_AFTER and (before := fused_into(chain[0])):
                chain.insert(0, before)
        else:
            node = by_name.get(name) or by_name.get(name.removesuffix("_quant"))
            chain = [node] if node is not None else []
        return [n.name or n.output[0] for n in chain]

    return resolve


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """The numpy dtype of an ONNX Runtime type string such as ``tensor(float)``."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))
