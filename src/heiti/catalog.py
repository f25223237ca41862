"""Human-readable descriptions of components for ``heiti list`` and ``heiti info``."""

from __future__ import annotations

import re
import typing
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from heiti import registry
from heiti.core.component import Component


def listing(kind: str | None = None) -> str:
    tables = {k: t for k, t in registry.components().items() if not kind or k == kind}
    if kind == "board":
        return board_listing()
    # one column width for all kinds, so the listing reads as one table
    name_width = max((len(n) for t in tables.values() for n in t), default=0)
    format_width = max((len(_formats(c)) for t in tables.values() for c in t.values()), default=0)
    lines = []
    for k, table in tables.items():
        lines.append(f"{k}s:")
        for name, cls in sorted(table.items()):
            missing = cls.missing_modules()
            flag = f"  [missing: pip install \"heiti[{cls.extra}]\"]" if missing else ""
            lines.append(f"  {name:<{name_width}}  {_formats(cls):<{format_width}}  "
                         f"{cls.description()}{flag}")
        lines.append("")
    if not kind:
        lines.append(board_listing())
    return "\n".join(lines).rstrip()


def board_listing() -> str:
    from heiti import boards

    table = boards.builtin()
    width = max(len(n) for n in table)
    return "\n".join(["boards:", *(f"  {n:<{width}}  {b.cpu:<10}  {b.description}"
                                   for n, b in sorted(table.items()))])


def _formats(cls: type[Component]) -> str:
    if cls.kind == "optimizer":
        out = cls.output_format or "(same)"
        if cls.variants and cls.input_formats:  # formats that depend on parameters
            out = "|".join(dict.fromkeys(f for _, f in cls.outputs_for(cls.input_formats[0])))
        return f"{'|'.join(cls.input_formats)} -> {out}"
    if cls.kind == "runtime":
        return "runs " + "|".join(cls.formats)
    if cls.kind == "model":
        return f"-> {cls.output_format}"
    return ""


def info(name: str) -> str:
    from heiti import boards

    if name in boards.builtin() or name.endswith((".yml", ".yaml")):
        return board_info(boards.get(name))
    cls = registry.find(name)
    lines = [f"{cls.name} ({cls.kind})", ""]
    lines += [cls.__doc__ and _dedent(cls.__doc__) or "", ""]
    formats = _formats(cls)
    if formats:
        lines.append(f"formats:   {formats}")
    if cls.extra:
        state = "missing" if cls.missing_modules() else "installed"
        lines.append(f"extra:     heiti[{cls.extra}] ({state})")
    lines += ["", "parameters:"]
    fields = cls.Params.model_fields
    if not fields:
        lines.append("  (none)")
    for field_name, field in fields.items():
        limits = _limits(field.metadata) + [f"each {limit}" for limit in _item_limits(field)]
        shown = f"  ({', '.join(limits)})" if limits else ""
        lines.append(f"  {field_name}: {_type_name(field)} = {_default(field)}{shown}")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


_BOUNDS = (("gt", "> {}"), ("ge", ">= {}"), ("lt", "< {}"), ("le", "<= {}"),
           ("min_length", "length >= {}"), ("max_length", "length <= {}"),
           ("pattern", "matching {}"))


def _limits(metadata: list[Any]) -> list[str]:
    """A parameter's bounds (``Field(gt=0, lt=0.5)``, ``min_length``) in words."""
    return [text.format(getattr(item, attr)) for item in metadata for attr, text in _BOUNDS
            if getattr(item, attr, None) is not None]


def _item_limits(field: FieldInfo) -> list[str]:
    """Bounds on the items of a tuple or list parameter (``tuple[PositiveInt, PositiveInt]``)."""
    items = [arg for arg in typing.get_args(field.annotation) if hasattr(arg, "__metadata__")]
    return list(dict.fromkeys(limit for arg in items for limit in _limits(arg.__metadata__)))


def _type_name(field: FieldInfo) -> str:
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    name = getattr(annotation, "__name__", None)
    if name and not typing.get_args(annotation):
        return name
    return re.sub(r"Annotated\[(\w+), [^\]]*\]", r"\1", str(annotation).replace("typing.", ""))


def _default(field: FieldInfo) -> str:
    return "(required)" if field.default is PydanticUndefined else repr(field.default)


def board_info(board: Any) -> str:
    lines = [f"{board.name} (board)", "", board.description, "",
             f"cpu:       {board.cpu} ({board.isa})",
             f"clock:     {board.clock_hz / 1e6:g} MHz nominal (time estimates only)",
             f"flash:     {board.flash.size} bytes at 0x{board.flash.origin:08x}",
             f"ram:       {board.ram.size} bytes at 0x{board.ram.origin:08x} "
             f"(stack {board.stack_bytes} bytes)",
             f"uart:      {board.uart.kind} at 0x{board.uart.base:08x}",
             f"counter:   {board.counter.kind}",
             f"compiler:  {board.toolchain.compiler} {' '.join(board.toolchain.flags)} "
             f"(apt-get install {board.toolchain.package})",
             f"emulator:  {board.qemu.program} -M {board.qemu.machine} "
             f"(apt-get install {board.qemu.package})",
             "", "use:       target: {kind: qemu, board: " + board.name + "}"]
    return "\n".join(lines)
