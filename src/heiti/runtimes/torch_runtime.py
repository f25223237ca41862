"""PyTorch eager execution on the CPU."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime, ThreadsParams


class TorchRuntimeParams(ThreadsParams):
    """Threads are PyTorch's intra-op pool, process-wide: set on load, restored on close."""


class TorchRuntime(Runtime):
    """PyTorch eager mode on the CPU, in inference mode, for models of the zoo."""

    name = "torch"
    Params = TorchRuntimeParams
    formats = ("torch",)
    executes_native_code = False  # a zoo network rebuilt by name, weights_only
    requires = ("torch",)
    extra = "torch"

    def load(self, model: Artifact) -> None:
        import torch

        from heiti.frameworks.torch_tools import load_module

        previous = torch.get_num_threads()
        torch.set_num_threads(self.thread_count())
        self.restore_on_close(lambda: torch.set_num_threads(previous))
        self.io = model.io
        self._module = load_module(model)
        self._torch = torch

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        return [self._torch.from_numpy(np.ascontiguousarray(a)) for a in self.ordered_inputs(inputs)]

    def infer(self, prepared: Any) -> Any:
        with self._torch.inference_mode():
            return self._module(*prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        return self.named_outputs([t.numpy() for t in (raw if isinstance(raw, tuple) else (raw,))])

    def versions(self) -> dict[str, str]:
        import torch

        return {"torch": torch.__version__}
