"""Apache TVM's runtime: the Relax virtual machine over a compiled library."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.frameworks.native import ArrayRuntime


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

    def close(self) -> None:
        self._vm = self._main = None
        super().close()


def _restore_threads(configure: Any, previous: str | None) -> None:
    if previous is None:
        os.environ.pop("TVM_NUM_THREADS", None)
    else:
        os.environ["TVM_NUM_THREADS"] = previous
    configure(1, 0)  # 0: TVM's default count, read from the restored environment
