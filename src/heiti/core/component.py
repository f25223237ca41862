"""The base of every pluggable part: datasets, models, optimizers, runtimes, targets.

A component declares its parameters as a pydantic model (``Params``), the Python
modules it needs (``requires``) and the extra that installs them (``extra``).
Parameters typed ``Path`` are resolved relative to the scenario file's folder.
"""

from __future__ import annotations

import importlib.util
import inspect
import types
import typing
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from heiti.core.path_variables import expand_variables
from heiti.errors import MissingExtraError

# the largest seed NumPy's legacy generator, torch and Python's random all take
MAX_SEED = 2**32 - 1


class Params(BaseModel):
    """Base of component parameter models: unknown keys are errors, not silently ignored;
    inf and nan are refused (no parameter means them), and so is true/false where the
    field is not a flag (pydantic would turn ``port: true`` into port 1)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_flag_for_a_value(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name is not None \
                and not _takes_bool(cls.model_fields[info.field_name].annotation):
            raise PydanticCustomError("flag_for_value", "Input should be a value, not the flag "
                                      "{flag}", {"flag": str(value).lower()})
        return value


class Component:
    kind: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = Params
    requires: ClassVar[tuple[str, ...]] = ()
    extra: ClassVar[str | None] = None

    def __init__(self, params: BaseModel | dict | None = None, base_dir: Path | None = None):
        if isinstance(params, BaseModel):  # what was given stays given (model_fields_set)
            params = params.model_dump(exclude_unset=True)
        # typed as the subclass's own Params model, which only the subclass knows
        self.params: Any = self.Params.model_validate(params or {})
        self.given_paths: dict[str, str] = {}
        if base_dir is not None:
            self._resolve_paths(Path(base_dir))

    @classmethod
    def description(cls) -> str:
        """The first sentence of the class docstring."""
        text = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ")
        head, dot, _ = text.partition(". ")
        return head + (dot.strip() if dot else "")

    @classmethod
    def missing_modules(cls) -> list[str]:
        return [m for m in cls.requires if not _importable(m)]

    @classmethod
    def check_available(cls) -> None:
        missing = cls.missing_modules()
        if missing:
            raise MissingExtraError(cls.name, cls.extra or cls.name, missing[0])

    def _resolve_paths(self, base_dir: Path) -> None:
        for field, value in self.params:
            if isinstance(value, Path) and _is_path_field(type(self.params), field):
                self.given_paths[field] = str(value)
                value = expand_variables(value, f"parameters.{field}")
                setattr(self.params, field, (base_dir / value.expanduser()).resolve())

    def path_parameters(self) -> list[Path]:
        """The files and folders this component's parameters name (as resolved)."""
        return [value for field, value in self.params
                if isinstance(value, Path) and _is_path_field(type(self.params), field)]

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "parameters": self.params.model_dump(mode="json")}


def _is_path_field(model: type[BaseModel], field: str) -> bool:
    annotation = model.model_fields[field].annotation
    if annotation is Path:
        return True
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return Path in typing.get_args(annotation)
    return False


def _takes_bool(annotation: Any) -> bool:
    if annotation is bool or annotation is Any:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return any(isinstance(choice, bool) for choice in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return any(_takes_bool(member) for member in typing.get_args(annotation))
    return False


def _importable(module: str) -> bool:
    """True when ``module`` can be imported; for a dotted name whose parent package is
    missing, ``find_spec`` raises instead of answering None."""
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
