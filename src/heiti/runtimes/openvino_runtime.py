"""OpenVINO Runtime: compiles IR (or ONNX) for a device plugin and runs it."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from heiti.core.artifact import Artifact
from heiti.core.steps import LayerTime, ThreadsParams
from heiti.errors import InputError
from heiti.frameworks import openvino_tools
from heiti.frameworks.layer_names import node_tracer
from heiti.frameworks.native import ArrayRuntime


class OpenVinoRuntimeParams(ThreadsParams):
    device: str = Field("CPU", description="OpenVINO device: CPU, GPU, NPU, AUTO, ...")
    inference_precision: Literal["f32", "f16", "bf16"] = Field(
        "f32", description="precision the plugin computes in; set explicitly because the CPU "
        "plugin's own default is bf16 or f16 on CPUs that have them, which changes results")
    performance_hint: Literal["latency", "throughput"] = "latency"


class OpenVinoRuntime(ArrayRuntime):
    """OpenVINO Runtime for OpenVINO IR (float and NNCF int8) and ONNX, CPU by default.

    The inference precision is always set (f32 unless told otherwise) and recorded
    with the runtime's parameters in the measurements."""

    name = "openvino"
    Params = OpenVinoRuntimeParams
    formats = ("openvino", "openvino-int8", "onnx")
    executes_native_code = False  # a graph the plugin compiles from its own kernels
    requires = ("openvino",)
    extra = "openvino"
    profiles_layers = True
    _perf_count = False

    def open(self, model: Artifact) -> None:
        import openvino as ov

        core = ov.Core()
        device = self.params.device
        if device.split(":")[0] not in {d.split(".")[0] for d in core.available_devices} | {
                "AUTO", "MULTI", "HETERO"}:
            raise InputError(f"OpenVINO device '{device}' is not available here (available: "
                             f"{', '.join(core.available_devices)})")
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self.params.inference_precision,
                                  "PERFORMANCE_HINT": self.params.performance_hint.upper()}
        config["INFERENCE_NUM_THREADS"] = self.thread_count()
        if self._perf_count:
            config["PERF_COUNT"] = True
        path = model.path if model.format == "onnx" else openvino_tools.ir_path(model)
        self._compiled = core.compile_model(str(path), device, config)
        self._request = self._compiled.create_infer_request()

    def infer(self, prepared: Any) -> Any:
        return self._request.infer(prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs([np.array(v) for v in raw.values()])

    def versions(self) -> dict[str, str]:
        return openvino_tools.version()

    def profile_layers(self, model: Artifact, inputs: dict[str, np.ndarray],
                       runs: int) -> list[LayerTime]:
        """OpenVINO's performance counters: the real time of each executed node of the
        compiled graph, summed over ``runs`` calls after one warm-up call."""
        self._perf_count = True
        try:
            self.load(model)
            prepared = self.prepare(inputs)
            self.infer(prepared)
            total: dict[tuple[str, str], float] = {}
            for _ in range(runs):
                self.infer(prepared)
                for info in self._request.get_profiling_info():
                    if info.status.name == "EXECUTED":
                        key = (info.node_name, info.node_type)
                        total[key] = total.get(key, 0.0) + info.real_time.total_seconds()
        finally:
            self._perf_count = False
            self.close()
        # an ONNX model's nodes are known; an IR file keeps no ONNX graph to trace them in
        trace = node_tracer(model.path) if model.format == "onnx" else lambda name: []
        layers = [LayerTime(name, kind, s * 1000 / runs, trace(name))
                  for (name, kind), s in total.items()]
        return sorted(layers, key=lambda layer: -layer.mean_ms)

    def close(self) -> None:
        self._request = self._compiled = None
        super().close()
