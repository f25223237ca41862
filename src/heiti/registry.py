"""Component lookup: built-ins by short name plus third-party components.

Built-ins are found by importing every module of the component packages (cheap:
component modules import their frameworks lazily), so adding a component is adding
one file. Third-party packages register classes under the ``heiti.components``
entry-point group, e.g. in their pyproject::

    [project.entry-points."heiti.components"]
    my-compiler = "my_package.compiler:MyCompiler"
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from heiti.core.component import Component
from heiti.errors import InputError

KINDS = ("task", "dataset", "model", "optimizer", "runtime", "target", "source", "transform", "sink",
         "tool")
_PACKAGES = {
    "task": "heiti.tasks",
    "dataset": "heiti.datasets",
    "model": "heiti.models",
    "optimizer": "heiti.optimizers",
    "runtime": "heiti.runtimes",
    "target": "heiti.targets",
    "source": "heiti.flows.sources",  # flow stages (heiti flow)
    "transform": "heiti.flows.transforms",
    "sink": "heiti.flows.sinks",
    "tool": "heiti.workflows.tools",  # workflow steps (heiti workflow)
}
ENTRY_POINT_GROUP = "heiti.components"


@cache
def components() -> dict[str, dict[str, Any]]:
    """All known components: ``{kind: {name: class}}``."""
    found: dict[str, dict[str, type[Component]]] = {kind: {} for kind in KINDS}
    for kind, package_name in _PACKAGES.items():
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            for obj in vars(module).values():
                if _is_component(obj, kind) and obj.__module__ == module.__name__:
                    found[kind][obj.name] = obj
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        obj = ep.load()
        if not (isinstance(obj, type) and issubclass(obj, Component) and obj.kind in KINDS):
            raise InputError(f"entry point '{ep.name}' ({ep.value}) is not a heiti component")
        found[obj.kind].setdefault(obj.name or ep.name, obj)
    return found


def _is_component(obj: object, kind: str) -> bool:
    return isinstance(obj, type) and issubclass(obj, Component) and obj.kind == kind and bool(obj.name)


def get(kind: str, name: str) -> Any:
    """The class registered as ``name`` of ``kind`` (typed Any: callers know the kind's base)."""
    table = components()[kind]
    if name in table:
        return table[name]
    close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else None
    known = ", ".join(sorted(table))
    raise InputError(f"unknown {kind} '{name}' (known: {known})", hint=hint)


def find(name: str) -> Any:
    """Look a component up by name across all kinds (for ``heiti info``)."""
    matches = [table[name] for table in components().values() if name in table]
    if matches:
        return matches[0]
    everything = [n for table in components().values() for n in table]
    close = difflib.get_close_matches(name, everything, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "see 'heiti list'"
    raise InputError(f"no component named '{name}'", hint=hint)
