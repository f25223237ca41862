"""One grid cell per (model, framework): '<export> / <import>' with these values:

- supported: the conversion worked and ONNX Runtime reproduces the framework's outputs
- unsupported: the framework has no such conversion (or its converter is not installed)
- ERROR: the conversion raised, or its result computes different numbers
- unverified: import not tried, because export did not succeed
- not provided: the framework has no such model
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

SUPPORTED, UNSUPPORTED, ERROR, UNVERIFIED, NOT_PROVIDED = (
    "supported", "unsupported", "ERROR", "unverified", "not provided")
RTOL, ATOL = 1e-3, 1e-4


class Unsupported(Exception):
    """The framework offers no such conversion: the message says why."""


class GridFramework:
    name: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()

    def version(self) -> str:
        raise NotImplementedError

    def models(self) -> dict[str, Callable[[], tuple[Any, np.ndarray]]]:
        """Model name -> builder returning (model, example input)."""
        raise NotImplementedError

    def predict(self, model: Any, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def onnx_output(self, outputs: list[Any]) -> np.ndarray:
        """The ONNX output to compare with ``predict`` (the first one unless overridden)."""
        return np.asarray(outputs[0])

    def export(self, model: Any, x: np.ndarray, path: Path) -> None:
        raise Unsupported(f"{self.name} cannot export to ONNX")

    def import_onnx(self, path: Path) -> Any:
        raise Unsupported(f"{self.name} cannot import ONNX")


@dataclass
class GridCell:
    model: str
    framework: str
    export: str = NOT_PROVIDED
    import_: str = NOT_PROVIDED
    export_detail: str = ""
    import_detail: str = ""

    @property
    def text(self) -> str:
        return f"{self.export} / {self.import_}"

    @property
    def detail(self) -> str:
        parts = [f"export: {self.export_detail}" if self.export_detail else "",
                 f"import: {self.import_detail}" if self.import_detail else ""]
        return "\n".join(p for p in parts if p)


@dataclass
class Grid:
    frameworks: dict[str, str]  # name -> version
    models: list[str]
    cells: list[GridCell] = field(default_factory=list)

    def cell(self, model: str, framework: str) -> GridCell:
        return next(c for c in self.cells if c.model == model and c.framework == framework)


def frameworks() -> list[GridFramework]:
    """Every framework of this package whose Python modules are installed."""
    import heiti.onnxgrid as package

    found = []
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, GridFramework) and obj.name
                    and obj.__module__ == module.__name__
                    and all(importlib.util.find_spec(m) for m in obj.requires)):
                found.append(obj())
    return sorted(found, key=lambda f: f.name)


def build_grid(out_dir: Path, chosen: list[GridFramework], only: list[str] | None = None,
               log: Callable[[str], None] = print) -> Grid:
    catalogs = {fw.name: fw.models() for fw in chosen}
    models = list(dict.fromkeys(m for catalog in catalogs.values() for m in catalog))
    if only:
        models = [m for m in models if m in only]
    grid = Grid({fw.name: fw.version() for fw in chosen}, models)
    for model_name in models:
        for fw in chosen:
            cell = GridCell(model_name, fw.name)
            grid.cells.append(cell)
            builder = catalogs[fw.name].get(model_name)
            if builder is None:
                continue
            log(f"onnx-grid: {model_name} / {fw.name}")
            _convert(cell, fw, builder, out_dir / fw.name / f"{model_name}.onnx")
    return grid


def _convert(cell: GridCell, fw: GridFramework, builder, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        model, x = builder()
        want = fw.predict(model, x)
    except Exception as exc:  # the model itself cannot be built here
        cell.export, cell.import_, cell.export_detail = ERROR, UNVERIFIED, f"building the model: {_text(exc)}"
        return
    cell.export, cell.export_detail = _attempt(lambda: fw.export(model, x, path),
                                               lambda: fw.onnx_output(_onnxruntime(path, x)), want)
    if cell.export != SUPPORTED:
        cell.import_ = UNVERIFIED
        return
    imported: list[Any] = []
    cell.import_, cell.import_detail = _attempt(lambda: imported.append(fw.import_onnx(path)),
                                                lambda: fw.predict(imported[0], x), want)


def _attempt(convert: Callable[[], Any], compute: Callable[[], np.ndarray],
             want: np.ndarray) -> tuple[str, str]:
    try:
        convert()
    except Unsupported as exc:
        return UNSUPPORTED, str(exc)
    except Exception as exc:  # converters raise anything; all of it is an ERROR cell
        return ERROR, _text(exc)
    try:
        got = compute()
    except Exception as exc:
        return ERROR, f"the converted model does not run: {_text(exc)}"
    if got.shape != want.shape or not np.allclose(got, want, rtol=RTOL, atol=ATOL):
        diff = float(np.max(np.abs(got - want))) if got.shape == want.shape else None
        return ERROR, (f"outputs differ (max |diff| {diff:.3g})" if diff is not None
                       else f"output shape {got.shape}, expected {want.shape}")
    return SUPPORTED, ""


def _onnxruntime(path: Path, x: np.ndarray) -> list[Any]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})


def _text(exc: BaseException, limit: int = 1500) -> str:
    """An exception as plain text: type, message without terminal colours, shortened."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", f"{type(exc).__name__}: {exc}").strip()
    return text if len(text) <= limit else text[: limit - 20] + " … (shortened)"
