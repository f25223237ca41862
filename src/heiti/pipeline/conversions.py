"""The converter registry: export steps between frameworks that the chain check inserts.

Optimizers marked ``converts = True`` (onnx-export: torch -> onnx, litert-convert:
torch -> tflite, executorch-export: torch -> pte, and any third-party converter)
form a graph over formats. Where a scenario's chain has a gap (a torch model
followed by a step that takes onnx, or a runtime that runs tflite), the shortest
path of converters with default parameters fills it; installed converters are
preferred. When no path exists, ``gap`` says so and lists what is available.
"""

from __future__ import annotations

from collections import deque

from heiti import registry
from heiti.core.steps import Optimizer

MAX_STEPS = 3


def converters(installed_only: bool = False) -> list[type[Optimizer]]:
    table = registry.components()["optimizer"]
    return [cls for _, cls in sorted(table.items())
            if getattr(cls, "converts", False) and not (installed_only and cls.missing_modules())]


def find_path(source: str, targets: tuple[str, ...]) -> list[Optimizer] | None:
    """The shortest chain of converters from ``source`` to one of ``targets`` ([] if none is
    needed, None if impossible); converters whose extras are installed come first."""
    if source in targets:
        return []
    for pool in (converters(installed_only=True), converters()):
        path = _search(source, targets, pool)
        if path is not None:
            return path
    return None


def _search(source: str, targets: tuple[str, ...], pool: list[type[Optimizer]]) -> list[Optimizer] | None:
    queue: deque[tuple[str, list[Optimizer]]] = deque([(source, [])])
    seen = {source}
    while queue:
        fmt, path = queue.popleft()
        if len(path) >= MAX_STEPS:
            continue
        for cls in pool:
            if not cls.outputs_for(fmt):  # takes another format, or cannot run on defaults
                continue
            step = cls()
            out = step.output_format_for(fmt)
            if out in targets:
                return [*path, step]
            if out not in seen:
                seen.add(out)
                queue.append((out, [*path, step]))
    return None


def available() -> list[str]:
    """Every conversion known, as 'input -> output (name)'."""
    found = []
    for cls in converters():
        for fmt in cls.input_formats:
            outputs = cls.outputs_for(fmt)
            if outputs:
                found.append(f"{fmt} -> {outputs[0][1]} ({cls.name})")
    return found


def gap(source: str, targets: tuple[str, ...]) -> str:
    wanted = " or ".join(f"'{t}'" for t in targets)
    known = ", ".join(available()) or "none"
    makers = producers(targets)
    return (f"no converter from '{source}' to {wanted} (available conversions: {known})"
            + (f"; optimizers that make {wanted}: {', '.join(makers)}" if makers else ""))


def producers(targets: tuple[str, ...]) -> list[str]:
    """Optimizers that can output one of ``targets``, as 'name (takes formats)'."""
    found = []
    for name, cls in sorted(registry.components()["optimizer"].items()):
        outputs = {out for fmt in cls.input_formats for _, out in cls.outputs_for(fmt)}
        if outputs & set(targets) and not set(cls.input_formats) & set(targets):
            found.append(f"{name} (takes {'|'.join(cls.input_formats)})")
    return found
