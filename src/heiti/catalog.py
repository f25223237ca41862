"""Human-readable descriptions of components for ``heiti list`` and ``heiti info``."""

from __future__ import annotations

import typing

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from heiti import registry
from heiti.core.component import Component


def listing(kind: str | None = None) -> str:
    tables = {k: t for k, t in registry.components().items() if not kind or k == kind}
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
    return "\n".join(lines).rstrip()


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
        lines.append(f"  {field_name}: {_type_name(field)} = {_default(field)}")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)


def _dedent(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


def _type_name(field: FieldInfo) -> str:
    annotation = field.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(annotation))
    name = getattr(annotation, "__name__", None)
    return name if name and not typing.get_args(annotation) else str(annotation).replace("typing.", "")


def _default(field: FieldInfo) -> str:
    return "(required)" if field.default is PydanticUndefined else repr(field.default)
