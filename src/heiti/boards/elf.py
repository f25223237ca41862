"""Flash and RAM of a linked 32-bit little-endian ELF, by section, from its section headers.

Flash holds every allocated section with contents (code, constants, the initial values of
.data); RAM holds every writable allocated section (.data, .bss, the reserved stack).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

SHT_NOBITS = 8
SHF_WRITE, SHF_ALLOC = 0x1, 0x2
_SECTION = struct.Struct("<IIIIIIIIII")


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


def read_sections(path: Path) -> Sections:
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 1 or data[5] != 1:
        raise ValueError(f"{path} is not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", data, 0x20)
    entsize, count, names_index = struct.unpack_from("<HHH", data, 0x2E)
    headers = [_SECTION.unpack_from(data, shoff + i * entsize) for i in range(count)]
    names_offset = headers[names_index][4]

    def name(offset: int) -> str:
        start = names_offset + offset
        return data[start : data.index(b"\0", start)].decode()

    found = []
    for sh_name, sh_type, flags, _addr, _offset, size, *_ in headers:
        if flags & SHF_ALLOC and size:
            found.append(Section(name(sh_name), size, flash=sh_type != SHT_NOBITS,
                                 ram=bool(flags & SHF_WRITE)))
    return Sections(tuple(found))
