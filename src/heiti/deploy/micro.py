"""A heiti micro C model as a self-contained folder for a firmware project: the model and
the kernels it was generated with, an example that checks one sample against heiti's
outputs, and a README with the figures, in one of three layouts: ``cmake`` (CMake and make
builds of a static library), ``arduino`` (an Arduino library: ``library.properties``,
``src/``, an example sketch) and ``zephyr`` (a Zephyr module: ``zephyr/module.yml``, its
CMake and Kconfig, a sample application).

The C files are taken from the ``c-int8`` artifact itself (every ``.c`` and ``.h`` the
code generator put there), so the package holds exactly the kernels its ``model.c`` was
generated against, whatever the layout of heiti's kernel library.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from heiti import __version__
from heiti.core.artifact import Artifact
from heiti.deploy.folder import MARKER, refuse_foreign, render
from heiti.errors import InputError

FORMAT = "c-int8"
SOURCE_DIR = "heiti_model"
MODEL_FILES = ("model.c", "model.h")
DEFAULT_BOARD = "mps2-an386"  # a Cortex-M4, the CPU micro-c measures flash and RAM for


def c_sources(artifact: Artifact) -> list[Path]:
    """The C sources and headers of a c-int8 artifact, model files first."""
    files = sorted(p for p in Path(artifact.path).rglob("*") if p.suffix in (".c", ".h") and p.is_file())
    missing = [name for name in MODEL_FILES if not (artifact.path / name).is_file()]
    if missing:
        raise InputError(f"'{artifact.path}' has no {' or '.join(missing)}",
                         hint="make the artifact again: heiti optimize SCENARIO --force")
    return sorted(files, key=lambda p: (p.name not in MODEL_FILES, str(p)))


def find_artifact(build_dir: Path) -> Artifact:
    """The last c-int8 step of a build folder (or the artifact folder itself)."""
    if Artifact.sidecar_exists(build_dir):
        found = [Artifact.load(build_dir)]
    else:
        found = [a for a in (Artifact.cached(s.with_suffix("")) for s in sorted(build_dir.glob("*.json")))
                 if a is not None and a.format == FORMAT]
    if not found or found[-1].format != FORMAT:
        raise InputError(f"'{build_dir}' holds no heiti micro C model ({FORMAT} artifact)",
                         hint="give a scenario whose chain ends in 'micro-c', or its build folder "
                              "after 'heiti optimize'")
    return found[-1]


def expected_outputs(artifact: Artifact, raw: np.ndarray) -> np.ndarray:
    """heiti's host build of the artifact on ``raw`` (bit-identical to the golden model:
    micro-c checks that when it generates the code)."""
    from heiti.micro.build import HostModel, host_library

    details = artifact.provenance.details
    host = HostModel(host_library(artifact.path), details["input_size"], details["output_size"])
    return host.predict(raw.view(np.uint8).reshape(1, -1))[0]


def synthetic_sample(artifact: Artifact) -> np.ndarray:
    """A fixed pseudo-random raw input, for packages made without a dataset."""
    spec = artifact.io.inputs[0]
    info = np.iinfo(spec.dtype)
    size = artifact.provenance.details["input_size"]
    return np.random.default_rng(0).integers(info.min, info.max, size, dtype=spec.dtype, endpoint=True)


def write_package(artifact: Artifact, out: Path, board: Any, sample: np.ndarray,
                  sample_source: str, name: str, layout: str = "cmake") -> Path:
    """Write the package folder ``out`` in ``layout`` (replacing an earlier heiti package there)."""
    from heiti.frameworks.native import fresh_dir

    sources = c_sources(artifact)
    expected = expected_outputs(artifact, sample)
    refuse_foreign(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    facts = _facts(artifact, board, name, sources, sample, expected, sample_source)
    facts.update(layout=layout, source_dir="src" if layout == "arduino" else SOURCE_DIR)
    with fresh_dir(out) as tmp:
        for source in sources:
            target = tmp / facts["source_dir"] / source.relative_to(artifact.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        for template, target in [("README.md", "README.md"), *_layout_files(layout, facts["emulated"])]:
            (tmp / target).parent.mkdir(parents=True, exist_ok=True)
            (tmp / target).write_text(render("micro", template, facts), encoding="utf-8")
        figures = {k: facts[k] for k in ("name", "layout", "board_name", "flash_bytes", "static_ram_bytes",
                                         "stack_bytes", "ram_bytes", "arena_bytes", "weight_bytes",
                                         "total_macs", "measured_compiler", "measured_flags",
                                         "input_size", "output_size")}
        (tmp / MARKER).write_text(json.dumps({"heiti": __version__, "artifact": str(artifact.path),
                                              "artifact_sha256": artifact.sha256, **figures,
                                              "expected_outputs": expected.tolist()}, indent=2) + "\n",
                                  encoding="utf-8")
    return out


def _layout_files(layout: str, emulated: bool) -> list[tuple[str, str]]:
    """(template, path in the package) of a layout's generated files besides the README."""
    if layout == "arduino":  # the example's folder and sketch must share their name
        return [("library.properties", "library.properties"),
                ("sketch.ino", "examples/heiti_model_example/heiti_model_example.ino")]
    if layout == "zephyr":
        return [("zephyr-module.yml", "zephyr/module.yml"),
                ("zephyr-CMakeLists.txt", "zephyr/CMakeLists.txt"),
                ("zephyr-Kconfig", "zephyr/Kconfig"), ("main.c", "samples/heiti_model/src/main.c"),
                ("zephyr-sample-CMakeLists.txt", "samples/heiti_model/CMakeLists.txt"),
                ("zephyr-prj.conf", "samples/heiti_model/prj.conf")]
    files = [("CMakeLists.txt", "CMakeLists.txt"), ("Makefile", "Makefile"), ("main.c", "example/main.c"),
             ("toolchain.cmake", "cmake/toolchain.cmake")]
    if emulated:  # the example alone on the emulated board
        files += [("board-startup.c", "board/startup.c"), ("board.ld", "board/board.ld")]
    return files


def _facts(artifact: Artifact, board: Any, name: str, sources: list[Path], sample: np.ndarray,
           expected: np.ndarray, sample_source: str) -> dict[str, Any]:
    details = artifact.provenance.details
    m4 = details.get("cortex_m4", {})
    inp, outp = artifact.io.inputs[0], artifact.io.outputs[0]
    names = artifact.io.class_names
    printable = names and all(re.fullmatch(r"[\w .,:+-]*", n) for n in names)
    layers = details.get("layers", [])
    return {
        "name": name, "c_name": name.replace("-", "_"), "version": __version__,
        "artifact": artifact.path.name,
        "created": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "board_name": board.name, "toolchain_compiler": board.toolchain.compiler,
        "toolchain_ar": board.toolchain.compiler.removesuffix("gcc") + "ar",
        "toolchain_flags": " ".join(board.toolchain.flags),
        "processor": {"cortex-m": "arm"}.get(board.family, board.family),
        "emulated": board.family == "cortex-m",  # board/: startup and memory for QEMU
        "flash_origin": hex(board.flash.origin), "flash_size": hex(board.flash.size),
        "ram_origin": hex(board.ram.origin), "ram_size": hex(board.ram.size),
        "qemu": f"{board.qemu.program} -M {board.qemu.machine}",
        "measured_compiler": m4.get("compiler"), "measured_flags": m4.get("flags"),
        "sources": [p.relative_to(artifact.path).as_posix() for p in sources if p.suffix == ".c"],
        "kernel_files": [p.relative_to(artifact.path).as_posix() for p in sources
                         if p.name not in MODEL_FILES],
        "flash_bytes": m4.get("flash_bytes"), "stack_bytes": m4.get("stack_bytes"),
        "ram_bytes": m4.get("ram_bytes"),
        "static_ram_bytes": m4["bss_bytes"] + m4["data_bytes"] if "bss_bytes" in m4 else None,
        "skipped": m4.get("skipped", "micro-c ran with cortex_m4: false"),
        "arena_bytes": details.get("arena_bytes"), "weight_bytes": details.get("weight_bytes"),
        "input_size": details["input_size"], "output_size": details["output_size"],
        "input_name": inp.name, "input_shape": "x".join(map(str, inp.shape[1:])),
        "input_scale": inp.scale, "input_zero_point": inp.zero_point or 0,
        "output_name": outp.name, "output_scale": outp.scale, "output_zero_point": outp.zero_point or 0,
        "class_names": ", ".join(f'"{n}"' for n in names) if printable else None,
        "layers": layers, "total_macs": sum(layer.get("macs", 0) for layer in layers),
        "sample": _c_array(sample.view(np.uint8)), "expected": _c_array(expected),
        "sample_source": sample_source,
    }


def _c_array(values: np.ndarray) -> str:
    numbers = [str(int(v)) for v in values.reshape(-1)]
    return ",\n".join("    " + ", ".join(numbers[i : i + 16]) for i in range(0, len(numbers), 16))

