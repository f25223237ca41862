"""Workflow tools: one step's work, from input folders to an output folder.

A tool is a component (kind ``tool``; one file each in ``heiti/workflows/tools`` or a
``heiti.components`` entry point) with typed parameters. It names the inputs it needs,
the Python modules whose versions decide its output, and, for a tool that reads data
from outside the workflow, that data's identity; the workflow builds the step's
content key from these (``core.cache.StepKey``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from heiti import registry
from heiti.core.component import Component
from heiti.scenario import ComponentSpec


@dataclass
class ToolContext:
    base_dir: Path  # the workflow file's folder: relative paths resolve here
    seed: int
    step: str
    log: Callable[[str], None]


class Tool(Component):
    kind = "tool"
    required_inputs: ClassVar[tuple[str, ...]] = ()
    optional_inputs: ClassVar[tuple[str, ...]] = ()
    any_inputs: ClassVar[bool] = False  # True: the step names its inputs freely (command)

    def modules(self) -> tuple[str, ...]:
        """Python modules whose versions are part of the step's key."""
        return self.requires

    def reads(self, ctx: ToolContext) -> list[Path]:
        """Files and folders outside the workflow the tool reads (no output may go there)."""
        return []

    def identity(self, ctx: ToolContext) -> dict[str, Any] | None:
        """What the tool reads from outside the workflow (a dataset), by content."""
        return None

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        """Write the step's results into the (empty, existing) folder ``output``."""
        raise NotImplementedError


def requirements(kind: str, spec: ComponentSpec) -> tuple[str, ...]:
    """The modules a component named in a tool's parameters needs (for the step's key)."""
    return registry.get(kind, spec.type).requires
