"""ExecuTorch programs (``.pte``) through ExecuTorch's Python bindings."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime, ThreadsParams


class ExecutorchParams(ThreadsParams):
    """Threads are ExecuTorch's (XNNPACK) pool, process-wide: set on load, restored on close."""


class ExecutorchRuntime(Runtime):
    """ExecuTorch's runtime (Python bindings) with the XNNPACK delegate the program was lowered
    to; programs have a static batch, so a short last batch is padded and the padding dropped."""

    name = "executorch"
    Params = ExecutorchParams
    formats = ("pte", "pte-int8")
    executes_native_code = False  # a program of built-in and XNNPACK operators
    requires = ("executorch", "torch")
    # imported ahead by heiti server's fork server
    preload = ("executorch.runtime", "executorch.extension.pybindings.portable_lib")
    extra = "executorch"

    def load(self, model: Artifact) -> None:

        import torch
        from executorch.extension.pybindings import portable_lib
        from executorch.runtime import Runtime as EtRuntime

        previous = portable_lib._threadpool_get_thread_count()
        portable_lib._unsafe_reset_threadpool(self.thread_count())
        self.restore_on_close(lambda: portable_lib._unsafe_reset_threadpool(previous))
        self._torch = torch
        self.io = model.io
        self._method = EtRuntime.get().load_program(str(model.path)).load_method("forward")
        shape = model.io.inputs[0].shape
        self._batch = shape[0] if shape and shape[0] > 0 else None

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        from heiti.frameworks.batching import pad_to

        padded, rows = pad_to(self.only_input(inputs), self._batch)
        # a fresh array: canonical strides (a view's size-1 dims may have others, see pt2e)
        return [self._torch.from_numpy(np.array(padded, dtype=np.float32, order="C"))], rows

    def infer(self, prepared: Any) -> Any:
        inputs, rows = prepared
        return self._method.execute(inputs), rows

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        values, rows = raw
        return self.named_outputs([v.numpy()[:rows] for v in values])

    def versions(self) -> dict[str, str]:
        from importlib.metadata import version

        return {"executorch": version("executorch")}

    def close(self) -> None:
        self._method = None
        super().close()
