"""Board definitions: a microcontroller's CPU, memories, UART, toolchain and emulator.

Built-in boards are YAML files in ``boards/builtin/``; a user's board is a YAML file of
the same schema, named by path in the scenario (``target: {kind: qemu, board: my.yml}``).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from heiti.errors import InputError

# the boards are 32-bit: addresses, sizes and the counts the firmware keeps in uint32_t
ADDRESSES = 2**32
U32 = ADDRESSES - 1
# names become file names (the firmware cache) and C string literals (cpu, isa)
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
MAX_STACK = 64 * 2**20  # far above any microcontroller's, and well inside the linker's sizing run


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Region(_Strict):
    origin: int = Field(ge=0, le=U32, description="start address")
    size: int = Field(gt=0, le=ADDRESSES, description="bytes")

    @model_validator(mode="after")
    def _in_address_space(self) -> Region:
        if self.origin + self.size > ADDRESSES:
            raise ValueError(f"origin 0x{self.origin:x} + size {self.size:,} ends beyond the 32-bit "
                             "address space")
        return self


class Uart(_Strict):
    kind: Literal["cmsdk", "ns16550"] = Field(description="cmsdk: ARM CMSDK APB UART; ns16550: "
                                              "a 16550-compatible UART")
    base: int = Field(ge=0, le=U32, description="register block address")


class Counter(_Strict):
    kind: Literal["systick", "minstret"] = Field(
        description="systick: Cortex-M SysTick at the CPU clock; minstret: RISC-V retired "
        "instructions")
    instructions_per_tick: int = Field(1, ge=1, le=U32, description="systick under QEMU -icount "
                                       "shift=0: 1e9 / the emulated CPU clock")


class Toolchain(_Strict):
    compiler: str = Field(description="cross C compiler on PATH")
    package: str = Field(description="Debian packages that bring it")
    flags: list[str] = Field(description="CPU, ABI and C library flags")


class Emulator(_Strict):
    program: str = Field(description="QEMU system emulator on PATH")
    package: str = Field(description="Debian package that brings it")
    machine: str = Field(description="QEMU -M value")
    options: list[str] = Field([], description="further QEMU options")


class Board(_Strict):
    name: str = Field(pattern=NAME, max_length=64)
    description: str = ""
    cpu: str = Field(pattern=ONE_LINE, max_length=64)
    isa: str = Field(pattern=ONE_LINE, max_length=128)
    family: Literal["cortex-m", "riscv"] = Field(description="startup code and counters to use")
    clock_hz: int = Field(gt=0, le=U32, description="nominal clock: only for time estimates")
    flash: Region
    ram: Region
    stack_bytes: int = Field(8192, ge=1024, le=MAX_STACK, description="stack reserved in RAM "
                             "(painted and measured)")
    uart: Uart
    counter: Counter
    toolchain: Toolchain
    qemu: Emulator

    @field_validator("ram")
    @classmethod
    def _apart_from_flash(cls, ram: Region, info: ValidationInfo) -> Region:
        flash = info.data.get("flash")
        if flash is not None and max(ram.origin, flash.origin) < min(ram.origin + ram.size,
                                                                     flash.origin + flash.size):
            raise ValueError("overlaps flash")
        return ram

    @field_validator("stack_bytes")
    @classmethod
    def _fits_in_ram(cls, stack: int, info: ValidationInfo) -> int:
        ram = info.data.get("ram")
        if ram is not None and stack >= ram.size:
            raise ValueError(f"{stack:,} bytes do not fit in the board's RAM ({ram.size:,} bytes, "
                             "which also holds the model's data)")
        return stack


def _builtin_folder() -> Path:
    return Path(str(resources.files("heiti.boards") / "builtin"))


@cache
def builtin() -> dict[str, Board]:
    return {b.name: b for b in (read(p) for p in sorted(_builtin_folder().glob("*.yml")))}


def read(path: Path) -> Board:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"board file '{path}' is not UTF-8 text: {exc}",
                         hint="save it as UTF-8") from None
    except RecursionError:
        raise InputError(f"board file '{path}' is nested too deeply to read") from None
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read board file '{path}': {exc}") from None
    try:
        return Board.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'board'}: {e['msg']}"
                             for e in exc.errors())
        raise InputError(f"board file '{path}' is not a valid board: {problems}",
                         hint="see docs/boards.md, 'Adding a board'") from None


def get(name: str, base_dir: Path | None = None) -> Board:
    """A built-in board by name, or a board file (``.yml``/``.yaml``) by path."""
    if name.endswith((".yml", ".yaml")):
        path = (Path(base_dir or ".") / name).expanduser()
        if not path.is_file():
            raise InputError(f"board file '{name}' does not exist (looked at {path})")
        return read(path)
    boards = builtin()
    if name not in boards:
        raise InputError(f"unknown board '{name}' (built-in: {', '.join(sorted(boards))})",
                         hint="or name a board file: board: path/to/board.yml")
    return boards[name]
