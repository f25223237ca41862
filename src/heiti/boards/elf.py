"""Flash and RAM of a linked 32-bit little-endian ELF, by section, from its section headers.

Flash holds every allocated section with contents (code, constants, the initial values of
.data); RAM holds every writable allocated section (.data, .bss, the reserved stack).
``object_bytes`` adds up the sizes of the data objects whose names match, from the symbol table.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from pathlib import Path

SHT_SYMTAB, SHT_NOBITS = 2, 8
STT_OBJECT = 1
SHF_WRITE, SHF_ALLOC = 0x1, 0x2
_SECTION = struct.Struct("<IIIIIIIIII")
_SYMBOL = struct.Struct("<IIIBBH")


@dataclass(frozen=True)
class Section:
    name: str
    size: int
    flash: bool
    ram: bool


@dataclass(frozen=True)
class Sections:
    sections: tuple[Section, ...]

    @property
    def flash_bytes(self) -> int:
        return sum(s.size for s in self.sections if s.flash)

    @property
    def ram_bytes(self) -> int:
        return sum(s.size for s in self.sections if s.ram)


def _headers(path: Path) -> tuple[bytes, list[tuple[int, ...]]]:
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError(f"{path} is not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    entsize, count = struct.unpack_from("<HH", data, 0x2E)
    return data, [_SECTION.unpack_from(data, shoff + i * entsize) for i in range(count)]


def _string(data: bytes, table: int, offset: int) -> str:
    start = table + offset
    return data[start : data.index(b"\0", start)].decode()


def object_bytes(path: Path, pattern: str) -> int:
    """Total size of the data objects (local or global) whose whole name matches ``pattern``."""
    data, headers = _headers(path)
    match = re.compile(pattern).fullmatch
    total = 0
    for _, sh_type, _, _, offset, size, link, _, _, entsize in headers:
        if sh_type == SHT_SYMTAB:
            strings = headers[link][4]
            for i in range(size // entsize):
                st_name, _, st_size, info, _, _ = _SYMBOL.unpack_from(data, offset + i * entsize)
                if info & 0xF == STT_OBJECT and match(_string(data, strings, st_name)):
                    total += st_size
    return total


def read_sections(path: Path) -> Sections:
    data, headers = _headers(path)
    names_index, = struct.unpack_from("<H", data, 0x32)
    names_offset = headers[names_index][4]

    def name(offset: int) -> str:
        return _string(data, names_offset, offset)

    found = []
    for sh_name, sh_type, flags, _addr, _offset, size, *_ in headers:
        if flags & SHF_ALLOC and size:
            found.append(Section(name(sh_name), size, flash=sh_type != SHT_NOBITS,
                                 ram=bool(flags & SHF_WRITE)))
    return Sections(tuple(found))
