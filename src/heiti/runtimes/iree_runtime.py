"""IREE's runtime: loads a .vmfb module and calls its entry function."""

from __future__ import annotations

from typing import Any

import numpy as np

from heiti.core.artifact import Artifact
from heiti.frameworks.native import ArrayRuntime, package_versions


class IreeRuntime(ArrayRuntime):
    """Runs .vmfb modules made by iree-compile with IREE's runtime on the CPU.

    One thread runs synchronously in the calling thread (``local-sync``), more use
    IREE's task system (``local-task``). A module holds native code that runs on load;
    modules cross-compiled for another architecture are refused."""

    name = "iree"
    formats = ("iree", "iree-cross")
    executes_native_code = True  # a .vmfb embeds the compiled kernels as machine code
    requires = ("iree.runtime",)
    extra = "iree"

    def open(self, model: Artifact) -> None:
        import iree.runtime as rt

        threads = self.thread_count()
        if threads == 1:
            device = rt.get_device("local-sync", cache=False)
        else:
            # a global flag, read only when a device is created: set before every creation
            rt.flags.parse_flags(f"--task_topology_max_group_count={threads}")
            device = rt.get_device("local-task", cache=False)
        self._context = rt.SystemContext(config=rt.Config(device=device))
        self._context.add_vm_module(rt.VmModule.mmap(self._context.instance, str(model.path)))
        module = self._context.modules.module
        names = [n for n in module.vm_module.function_names if not n.endswith("$async")
                 and not n.startswith("__")]
        self._main = module[names[0]]

    def infer(self, prepared: Any) -> Any:
        return self._main(*prepared)

    def outputs(self, raw: Any) -> dict[str, np.ndarray]:
        items = raw if isinstance(raw, (list, tuple)) else [raw]
        return self.named_outputs([item.to_host() for item in items])

    def versions(self) -> dict[str, str]:
        return package_versions("iree-base-runtime")

    def close(self) -> None:
        self._main = self._context = None
        super().close()
