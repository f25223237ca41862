"""Compiling generated C: a host shared library (cached by content hash, loaded with
ctypes) and a compile-only Cortex-M4 build that measures flash and stack."""

from __future__ import annotations

import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from heiti.errors import InputError, RunFailed

SOURCES = ("model.c", "heiti_micro.c")
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
HOST_FLAGS = [*WARNINGS, "-O2", "-fPIC", "-shared"]
M4_COMPILER = "arm-none-eabi-gcc"
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", *WARNINGS, "-Os", "-fstack-usage", "-fcallgraph-info=su",
            "-ffunction-sections", "-c"]


def cache_dir() -> Path:
    return Path(os.environ.get("HEITI_CACHE", Path.home() / ".cache" / "heiti")) / "micro-host"


def _compiler(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise InputError(f"micro: the C compiler '{name}' is not on PATH",
                         hint="apt-get install gcc (host) or gcc-arm-none-eabi "
                         "libnewlib-arm-none-eabi (Cortex-M)")
    return path


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RunFailed(f"micro: '{' '.join(command[:1])}' failed:\n{done.stderr[-3000:]}")
    return done.stdout


def host_library(folder: Path, compiler: str = "gcc") -> Path:
    """Build ``folder``'s C for this host, once per distinct source and flags."""
    cc = _compiler(compiler)
    digest = hashlib.sha256(" ".join([cc, *HOST_FLAGS]).encode())
    for name in (*SOURCES, "model.h", "heiti_micro.h"):
        digest.update(name.encode() + b"\0" + (folder / name).read_bytes())
    library = cache_dir() / f"{digest.hexdigest()[:24]}.so"
    if not library.exists():
        library.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=library.parent) as tmp:
            built = Path(tmp) / "model.so"
            _run([cc, *HOST_FLAGS, "-o", str(built), *SOURCES], folder)
            os.replace(built, library)  # atomic: a concurrent build wins or loses whole
    return library


class HostModel:
    """The generated model, loaded from its host library."""

    def __init__(self, library: Path, input_size: int, output_size: int):
        self._lib = ctypes.CDLL(str(library))
        self._run = self._lib.heiti_model_run
        self._run.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._run.restype = ctypes.c_int
        self.input_size, self.output_size = input_size, output_size

    def run_batch(self, raw: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Run every sample of ``raw`` (uint8, C-contiguous) into ``out`` (int8)."""
        step_in, step_out = self.input_size, self.output_size
        base_in, base_out = raw.ctypes.data, out.ctypes.data
        for i in range(len(raw)):
            self._run(base_in + i * step_in, base_out + i * step_out)
        return out

    def predict(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw)
        raw = np.ascontiguousarray(raw.view(np.uint8) if raw.dtype == np.int8 else raw,
                                   dtype=np.uint8).reshape(len(raw), -1)
        return self.run_batch(raw, np.empty((len(raw), self.output_size), dtype=np.int8))


_NODE = re.compile(r'node: \{ title: "([^"]+)" label: "[^"]*?\\n(\d+) bytes')
_EDGE = re.compile(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)"')


def deepest_stack(folder: Path, root: str) -> int:
    """Stack bytes of the deepest call chain from ``root``, from the ``.ci`` call graphs that
    ``-fcallgraph-info=su`` wrote into ``folder`` (a function without a frame there, such as
    a libc call, counts 0; a cycle is followed once)."""
    frames: dict[str, int] = {}
    calls: dict[str, set[str]] = {}
    for graph in folder.glob("*.ci"):
        text = graph.read_text()
        frames.update((name, int(size)) for name, size in _NODE.findall(text))
        for caller, callee in _EDGE.findall(text):
            calls.setdefault(caller, set()).add(callee)

    deepest: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in deepest:
            deepest[name] = 0  # while it is being measured: a call back into it adds nothing
            deepest[name] = frames.get(name, 0) + max(map(depth, calls.get(name, ())), default=0)
        return deepest[name]

    return depth(root)


def cortex_m4_report(folder: Path) -> dict:
    """Compile for Cortex-M4 (compile only) and measure flash, static RAM and stack.

    Flash is text + data of the objects (from ``arm-none-eabi-size``); the stack bound is
    the deepest call chain from ``heiti_model_run`` (GCC's call graph with each function's
    frame), so kernels the model never calls do not count.
    """
    cc = shutil.which(M4_COMPILER)
    if cc is None:
        return {"skipped": f"{M4_COMPILER} is not on PATH"}
    with tempfile.TemporaryDirectory() as tmp:
        objects = []
        for name in SOURCES:
            obj = Path(tmp) / name.replace(".c", ".o")
            _run([cc, *M4_FLAGS, str(folder / name), "-o", str(obj)], folder)
            objects.append(obj)
        sizes = _run([cc.replace("gcc", "size"), *map(str, objects)], folder)
        stack = deepest_stack(Path(tmp), "heiti_model_run")
    text = data = bss = 0
    for line in sizes.splitlines()[1:]:
        fields = line.split()
        text, data, bss = text + int(fields[0]), data + int(fields[1]), bss + int(fields[2])
    version = _run([cc, "-dumpversion"], folder).strip()
    return {"compiler": f"{M4_COMPILER} {version}", "flags": " ".join(M4_FLAGS),
            "text_bytes": text, "data_bytes": data, "bss_bytes": bss,
            "flash_bytes": text + data, "stack_bytes": stack, "ram_bytes": bss + data + stack}
