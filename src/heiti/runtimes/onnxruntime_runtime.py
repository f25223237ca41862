"""ONNX Runtime on the CPU."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime, ThreadsParams

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

    def load(self, model: Artifact) -> None:
        import onnxruntime as ort

        self.io = model.io
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.thread_count()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _LEVELS[self.params.graph_optimization])
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

    def close(self) -> None:
        self._session = None
        super().close()


def _numpy_dtype(onnx_type: str) -> np.dtype:
    """The numpy dtype of an ONNX Runtime type string such as ``tensor(float)``."""
    name = onnx_type.removeprefix("tensor(").removesuffix(")")
    return np.dtype({"float": "float32", "double": "float64"}.get(name, name))
