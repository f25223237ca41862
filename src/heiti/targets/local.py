"""This host: the runtime runs in heiti's own process."""

from __future__ import annotations

from typing import Any

from heiti.core.artifact import Artifact
from heiti.core.steps import Runtime, Target


class Local(Target):
    """The machine heiti runs on; the runtime is called in-process."""

    name = "local"

    def open(self, runtime: Runtime, model: Artifact) -> Runtime:
        runtime.load(model)
        return runtime

    def environment(self) -> dict[str, Any]:
        from heiti.pipeline.environment import host_environment

        return host_environment()
