"""Helpers shared by the compiling backends (Apache TVM, OpenVINO, IREE).

Compilers want static input shapes, write native code for a target that may not be
this host, fail with their own exception types and record what they did in the
artifact's provenance. The pieces here keep the three backends' modules short and
alike; nothing here imports a compiler.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from heiti.core.artifact import Artifact, Provenance
from heiti.core.formats import Format
from heiti.core.iospec import IOSpec
from heiti.core.steps import Runtime, ThreadsParams
from heiti.errors import InputError, component_failures

# what `uname -m` says -> the first part of the LLVM triples that run there
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64", "armv8": "aarch64"}


def host_arch() -> str:
    machine = platform.machine().lower()
    return _ARCH_ALIASES.get(machine, machine)


def triple_arch(triple: str) -> str:
    arch = triple.split("-", 1)[0].lower()
    return _ARCH_ALIASES.get(arch, arch)


def is_cross(triple: str | None) -> bool:
    """True when code for ``triple`` cannot run on this host (None: the host itself)."""
    return bool(triple) and triple_arch(triple) != host_arch()


def cross_format(base: str, triple: str | None) -> str:
    return str(Format.parse(base).crossed()) if is_cross(triple) else base


def refuse_cross(model: Artifact, runtime: str) -> None:
    """Raise a clear error when ``model`` was compiled for another architecture than this
    host's (a cross-compiled artifact on a device of its own architecture is fine)."""
    triple = model.provenance.details.get("target_triple")
    if not Format.parse(model.format).cross or (triple and not is_cross(triple)):
        return
    raise InputError(
        f"runtime '{runtime}' cannot run '{model.path.name}' here: it was cross-compiled for "
        f"{triple or 'another architecture'}, and this host is {host_arch()}",
        hint="run it on a device of that architecture, or compile for this host "
        "(leave the target triple out)")


def fixed_batch(io: IOSpec, batch: int) -> IOSpec:
    """The IO specification with dynamic batch dimensions set to ``batch``."""
    fixed = io.model_copy(deep=True)
    for spec in fixed.inputs + fixed.outputs:
        spec.shape = spec.with_batch(batch)
        if any(d < 0 for d in spec.shape):
            raise InputError(f"tensor '{spec.name}' has dynamic dimensions besides the batch "
                             f"({spec.describe()}); the compilers need static shapes")
    return fixed


def input_shapes(io: IOSpec) -> dict[str, list[int]]:
    return {spec.name: list(spec.shape) for spec in io.inputs}


def package_versions(*packages: str) -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in packages}


def native_provenance(producer: str, started: float, versions: dict[str, str],
                      **details: Any) -> Provenance:
    """Provenance of an artifact holding machine code: loading it executes that code, so
    ``native_code`` tells servers to refuse it unless they are told otherwise."""
    return Provenance(producer=f"optimizer:{producer}", tool_versions=versions,
                      duration_s=time.perf_counter() - started,
                      details={"native_code": True, **details})


class ArrayRuntime(Runtime):
    """Base of runtimes that take positional numpy arrays of the IO specification's dtypes."""

    Params = ThreadsParams

    def load(self, model: Artifact) -> None:
        refuse_cross(model, self.name)
        self.io = model.io
        self._dtypes = [np.dtype(spec.dtype) for spec in model.io.inputs]
        with component_failures(f"{self.name} loading"):
            self.open(model)

    def open(self, model: Artifact) -> None:
        raise NotImplementedError

    def prepare(self, inputs: dict[str, np.ndarray]) -> Any:
        return [np.ascontiguousarray(a, dtype=d)
                for a, d in zip(self.ordered_inputs(inputs), self._dtypes, strict=True)]


@contextlib.contextmanager
def fresh_dir(path: Path) -> Iterator[Path]:
    """Yield an empty folder beside ``path``; on success it replaces ``path`` (a step's own
    output folder from an earlier run), so readers never see a half-written result."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
