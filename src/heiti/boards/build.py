"""Firmware for a board: the generated model, heiti micro's kernels, the board's startup code
and the C protocol server, linked for the board's memories and cached by content hash.

The linker places everything in the board's FLASH and RAM regions, so a model that does
not fit is refused here, with the bytes over per region, before QEMU ever starts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from heiti.boards import Board
from heiti.boards.elf import Sections, read_sections
from heiti.core.iospec import IOSpec
from heiti.errors import InputError, RunFailed
from heiti.protocols.framing import VERSION as PROTOCOL_VERSION

FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-Os", "-ffunction-sections",
         "-fdata-sections", "-ffreestanding", "-nostartfiles", "-Wl,--gc-sections"]
SERVER = ("heiti_server.c",)
BOARD_SOURCES = {"cmsdk": "board_cmsdk.c", "ns16550": "board_virt.c"}
STARTUP = {"cortex-m": ("startup_cortexm.c", "Reset_Handler"), "riscv": ("startup_riscv.c", "_start")}
MODEL_SOURCES = ("model.c", "heiti_micro.c")
HEADERS = ("board.h", "fault.h", "firmware.ld.in")
FIRMWARE_VERSION = "0.1"
OVERFLOW = re.compile(r"region `(\w+)' overflowed by (\d+) bytes")
SIZING = 0x40000000


@dataclass(frozen=True)
class Firmware:
    elf: Path
    board: Board
    sections: Sections
    profile: bool

    @property
    def flash_bytes(self) -> int:
        return self.sections.flash_bytes

    @property
    def ram_bytes(self) -> int:
        return self.sections.ram_bytes


def _compiler(board: Board) -> str:
    path = shutil.which(board.toolchain.compiler)
    if path is None:
        raise InputError(f"board '{board.name}': the cross compiler '{board.toolchain.compiler}' "
                         "is not on PATH", hint=f"apt-get install {board.toolchain.package}")
    return path


def cache_dir() -> Path:
    return Path(os.environ.get("HEITI_CACHE", Path.home() / ".cache" / "heiti")) / "firmware"


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_header(board: Board, io: IOSpec, model_sha256: str, profile: bool, input_size: int,
                  output_size: int, layers: int, versions: dict[str, str]) -> str:
    """fw_config.h: what the server knows about its board and its model."""
    inp = io.inputs[0]
    in_dims, outs = inp.with_batch(1), [out.with_batch(1) for out in io.outputs]
    ins = [spec.with_batch(1) for spec in io.inputs]  # several inputs: one after the other, as outputs
    in_sizes = [input_size] if len(ins) == 1 else [math.prod(dims) for dims in ins]
    if sum(in_sizes) != input_size:
        raise InputError(f"the model's inputs {[spec.name for spec in io.inputs]} hold {sum(in_sizes)} "
                         f"values, its C input buffer {input_size}",
                         hint="regenerate the artifact with micro-c")
    # a model with several outputs writes them one after the other; OUTPUT carries one tensor each
    sizes = [output_size] if len(outs) == 1 else [math.prod(dims) for dims in outs]
    if sum(sizes) != output_size:
        raise InputError(f"the model's outputs {[out.name for out in io.outputs]} hold {sum(sizes)} values, "
                         f"its C output buffer {output_size}", hint="regenerate the artifact with micro-c")
    headers = sum(4 + 4 * len(dims) for dims in outs)
    # the largest message the host sends: DATA, or the IOSPEC JSON (class names and all)
    iospec = len(json.dumps(io.model_dump(mode="json", exclude_none=True), separators=(",", ":")))
    max_message = max(256, 4 + sum(4 + 4 * len(dims) for dims in ins) + input_size + 64, iospec + 64)
    # the largest transmission: PROCESS_DONE + OUTPUT, or STATS (fixed text, a number per layer)
    tx_buffer = max(2 * 14 + 8 + 4 + headers + output_size, 14 + 1024 + 21 * layers)
    quiet = max(board.clock_hz // 100, 200 * 10 * board.clock_hz // 115200)  # 200 characters, >= 10 ms
    dtypes = ["int8" if spec.dtype == "int8" else "uint8" for spec in io.inputs]  # an import's own int8
    dtype = dtypes[0]
    spec = ", ".join(f"{s.name}: {d}{dims}" for s, d, dims in zip(io.inputs, dtypes, ins, strict=True))
    lines = {
        "FW_BOARD": _c_string(board.name), "FW_CPU": _c_string(board.cpu),
        "FW_MACHINE": _c_string(board.isa), "FW_VERSIONS": _c_string(json.dumps(versions)),
        "FW_CLOCK_HZ": f"{board.clock_hz}u", "FW_UART_BASE": f"0x{board.uart.base:08x}u",
        "FW_TICK_INSTRUCTIONS": f"{board.counter.instructions_per_tick}u",
        "FW_MAX_MESSAGE": str(max_message), "FW_TX_BUFFER": str(tx_buffer),
        # a single-input firmware means the same by DATA in protocol 1 and 2: it speaks both
        "FW_MAX_VERSION": str(PROTOCOL_VERSION), "FW_MAX_VERSION_TEXT": f'"{PROTOCOL_VERSION}"',
        "FW_MODEL_SHA256": _c_string(model_sha256),
        "FW_INPUT_NDIM": str(len(in_dims)), "FW_INPUT_DIMS": "{" + ", ".join(map(str, in_dims)) + "}",
        "FW_INPUT_SPEC": _c_string(spec), "FW_INPUT_DTYPE": f"DT_{dtype.upper()}",
        "FW_INPUTS": str(len(ins)),
        "FW_OUTPUTS": str(len(outs)), "FW_OUTPUT_HEADERS": str(headers),
        "FW_OUTPUT_NDIMS": "{" + ", ".join(str(len(dims)) for dims in outs) + "}",
        "FW_OUTPUT_DIMS": "{" + ", ".join(str(d) for dims in outs for d in dims) + "}",
        "FW_OUTPUT_SIZES": "{" + ", ".join(map(str, sizes)) + "}",
        "FW_QUIET": f"{quiet}u", "FW_BYTE_TIMEOUT": f"{board.clock_hz}u",  # 1 s without a byte mid-frame
        "FW_PROFILE": "1" if profile else "0",
    }
    if len(ins) > 1:  # DATA carries one tensor per input (protocol 2); a single input keeps its code
        lines |= {"FW_INPUT_DIMS": "{" + ", ".join(str(d) for dims in ins for d in dims) + "}",
                  "FW_INPUT_NDIMS": "{" + ", ".join(str(len(dims)) for dims in ins) + "}",
                  "FW_INPUT_SIZES": "{" + ", ".join(map(str, in_sizes)) + "}",
                  "FW_INPUT_DTYPES": "{" + ", ".join(f"DT_{d.upper()}" for d in dtypes) + "}",
                  "FW_INPUT_HEADERS": str(sum(4 + 4 * len(dims) for dims in ins))}
    body = "\n".join(f"#define {k} {v}" for k, v in lines.items())
    hook = ("void fw_layer_mark(int layer);\n#define HEITI_LAYER(i) fw_layer_mark(i)\n"
            if profile else "")
    return (f"/* Generated by heiti for board {board.name}: do not edit. */\n#ifndef FW_CONFIG_H\n"
            f"#define FW_CONFIG_H\n{body}\n{hook}#endif\n")


def linker_script(board: Board, sizing: bool = False) -> str:
    """The board's layout; ``sizing``: 1 GiB regions, to measure a firmware that does not fit."""
    template = (resources.files("heiti.boards") / "c" / "firmware.ld.in").read_text(encoding="utf-8")
    flash, ram = board.flash, board.ram
    if sizing:
        flash = flash.model_copy(update={"size": SIZING})
        ram = ram.model_copy(update={"origin": (flash.origin + SIZING) % 2**32, "size": SIZING})
    values = {"ENTRY": STARTUP[board.family][1], "FLASH_ORIGIN": hex(flash.origin),
              "FLASH_SIZE": hex(flash.size), "RAM_ORIGIN": hex(ram.origin),
              "RAM_SIZE": hex(ram.size), "STACK_SIZE": str(board.stack_bytes)}
    for key, value in values.items():
        template = template.replace(f"@{key}@", value)
    return template


def build_firmware(board: Board, model_dir: Path, io: IOSpec, model_sha256: str, input_size: int,
                   output_size: int, profile: bool = True) -> Firmware:
    """Compile and link the firmware once per distinct input; refuse a model that does not fit."""
    cc = _compiler(board)
    library = resources.files("heiti.boards") / "c"
    own = [STARTUP[board.family][0], BOARD_SOURCES[board.uart.kind], *SERVER]
    versions = {"heiti-firmware": FIRMWARE_VERSION,
                board.toolchain.compiler: subprocess.run([cc, "-dumpversion"], capture_output=True,
                                                         text=True).stdout.strip()}
    layers = re.search(r"#define HEITI_MODEL_LAYERS (\d+)", (Path(model_dir) / "model.h").read_text())
    if layers is None:
        raise InputError(f"'{model_dir}' was generated by an older micro-c", hint="regenerate it")
    header = config_header(board, io, model_sha256, profile, input_size, output_size,
                           int(layers.group(1)), versions)
    generated = {"fw_config.h": header, "firmware.ld": linker_script(board)}
    digest = hashlib.sha256(" ".join([cc, *FLAGS, *board.toolchain.flags]).encode())
    for name, text in generated.items():
        digest.update(name.encode() + b"\0" + text.encode())
    for name in (*own, *HEADERS):
        digest.update(name.encode() + b"\0" + (library / name).read_bytes())
    for name in (*MODEL_SOURCES, "model.h", "heiti_micro.h"):
        digest.update(name.encode() + b"\0" + (Path(model_dir) / name).read_bytes())
    folder = cache_dir() / f"{board.name}-{digest.hexdigest()[:20]}"
    elf = folder / "firmware.elf"
    if not elf.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
        try:
            for name, text in generated.items():
                (work / name).write_text(text, encoding="utf-8")
            for name in (*own, "board.h", "fault.h"):
                (work / name).write_bytes((library / name).read_bytes())
            command = [cc, *board.toolchain.flags, *FLAGS, "-include", "fw_config.h", "-I", str(work),
                       "-I", str(Path(model_dir).resolve()), "-T", "firmware.ld", "-o", "firmware.elf",
                       *own, *(str(Path(model_dir).resolve() / n) for n in MODEL_SOURCES), "-lgcc"]
            _link(command, work, board)
            with contextlib.suppress(OSError):  # a concurrent build of the same input may have won
                os.replace(work, folder)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Firmware(elf, board, read_sections(elf), profile)


def _link(command: list[str], cwd: Path, board: Board) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode == 0:
        return
    if OVERFLOW.search(done.stderr):
        (cwd / "firmware.ld").write_text(linker_script(board, sizing=True), encoding="utf-8")
        if subprocess.run(command, cwd=cwd, capture_output=True).returncode == 0:
            raise InputError(_too_large(board, read_sections(cwd / "firmware.elf")),
                             hint="use a smaller model or a board with more memory")
    raise RunFailed(f"building the firmware for board '{board.name}' failed:\n{done.stderr[-3000:]}")


def _too_large(board: Board, sections: Sections) -> str:
    problems = []
    for region, used, limit, flag in (("FLASH", sections.flash_bytes, board.flash.size, "flash"),
                                      ("RAM", sections.ram_bytes, board.ram.size, "ram")):
        if used > limit:
            parts = ", ".join(f"{s.name} {s.size}" for s in sections.sections if getattr(s, flag))
            problems.append(f"{region} needs {used} bytes ({parts}), {used - limit} bytes over "
                            f"the board's {limit}")
    return f"the model does not fit board '{board.name}': " + "; ".join(problems)
