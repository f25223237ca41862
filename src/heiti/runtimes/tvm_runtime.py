"""Apache TVM's runtime: the Relax virtual machine over a compiled library."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import LayerTime
from heiti.frameworks.native import ArrayRuntime

# calls of the VM's own builtins (allocations, shape bookkeeping) are not layers
_BUILTIN = "vm.builtin."


class TvmRuntime(ArrayRuntime):
    """Runs libraries made by tvm-compile in TVM's Relax virtual machine on the CPU.

    Loading a compiled library executes native code (the library's initialisers and
    kernels run in this process with your rights): load only libraries you built or
    trust. Object archives cross-compiled for another architecture are refused.
    """

    name = "tvm"
    formats = ("tvm", "tvm-cross")
    executes_native_code = True  # loads the artifact as a shared library or object archive
    requires = ("tvm",)
    extra = "tvm"
    profiles_layers = True

    def open(self, model: Artifact) -> None:
        import tvm
        from tvm import relax

        # TVM caps its pool at TVM_NUM_THREADS (read at every reconfiguration; unset: half
        # the logical CPUs), so set it before asking for the count; both are process-wide
        threads, previous = self.thread_count(), os.environ.get("TVM_NUM_THREADS")
        configure = tvm.get_global_func("runtime.config_threadpool")
        os.environ["TVM_NUM_THREADS"] = str(threads)
        configure(1, threads)
        self.restore_on_close(lambda: _restore_threads(configure, previous))
        self._tensor = tvm.runtime.tensor
        self._vm = relax.VirtualMachine(tvm.runtime.load_module(str(model.path)), tvm.cpu())
        self._main = self._vm["main"]

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        return [self._tensor(a) for a in super().prepare(inputs)]

    def infer(self, prepared: Any) -> Any:
        return self._main(*prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        items = raw if isinstance(raw, (list, tuple)) or not hasattr(raw, "numpy") else [raw]
        return self.named_outputs([item.numpy() for item in items])

    def versions(self) -> dict[str, str]:
        import tvm

        return {"tvm": tvm.__version__}

    def profile_layers(self, model: Artifact, inputs: dict[str, np.ndarray],
                       runs: int) -> list[LayerTime]:
        """The time of each compiled kernel call, taken around the call by the Relax VM's
        instrument hook (TVM 0.26 has no VM profiler of its own), after one warm-up call.

        Kernels are named after the operators they fuse (``fused_conv2d_add_relu``): the
        Relax ONNX importer keeps no node names. A kernel called at several places of the
        graph is one layer per place."""
        self.load(model)
        try:
            prepared = self.prepare(inputs)
            self.infer(prepared)
            calls: list[tuple[str, int]] = []  # (kernel, ns) in call order, every run
            started = 0

            def instrument(func: Any, symbol: str, before: bool, *rest: Any) -> int:
                nonlocal started
                if before:
                    started = time.perf_counter_ns()  # last, so the hook's work stays outside
                else:
                    ended = time.perf_counter_ns()
                    if not symbol.startswith(_BUILTIN):
                        calls.append((symbol, ended - started))
                return 0

            self._vm.set_instrument(instrument)
            for _ in range(runs):
                self.infer(prepared)
        finally:
            self.close()
        return _kernel_times(calls, runs)

    def close(self) -> None:
        self._vm = self._main = None
        super().close()


def _kernel_times(calls: list[tuple[str, int]], runs: int) -> list[LayerTime]:
    """Mean time per kernel call site: the k-th call of every run is one layer."""
    per_run = len(calls) // runs
    total: dict[int, int] = defaultdict(int)
    for i, (_, ns) in enumerate(calls):
        total[i % per_run] += ns
    kernels = [symbol for symbol, _ in calls[:per_run]]
    layers = []
    for i, symbol in enumerate(kernels):
        name = symbol if kernels.count(symbol) == 1 else f"{symbol} (call {kernels[:i].count(symbol) + 1})"
        operators = symbol.removeprefix("fused_").rstrip("0123456789").replace("_", " ")
        layers.append(LayerTime(name, operators, total[i] / 1e6 / runs))
    return sorted(layers, key=lambda layer: -layer.mean_ms)


def _restore_threads(configure: Any, previous: str | None) -> None:
    if previous is None:
        os.environ.pop("TVM_NUM_THREADS", None)
    else:
        os.environ["TVM_NUM_THREADS"] = previous
    configure(1, 0)  # 0: TVM's default count, read from the restored environment
