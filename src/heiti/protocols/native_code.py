"""Does an uploaded file hold machine code? The server's second line of defence.

The first is the runtime itself (``Runtime.executes_native_code``): a server refuses
runtimes that run code from the artifact. This check catches machine code handed to
any other runtime: executables and shared libraries by their magic numbers, object
archives (``ar``), and tar archives (plain or compressed, nested up to two levels)
holding any of these, as TVM loads from a tar of object files.
"""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import IO

# ELF, Mach-O (both endians, fat), PE, and `ar` archives of object files
MAGICS = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
          b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"MZ", b"!<arch>\n")
MAX_DEPTH = 2


class Uninspectable(ValueError):
    """An archive too large to look into: treated as carrying native code."""


def carries_native_code(path: Path, limit: int) -> bool:
    """True when ``path`` is machine code or an archive holding some; ``limit`` bounds the
    bytes an archive may unpack to while it is inspected (Uninspectable above it)."""
    with open(path, "rb") as f:
        return _native(f, limit, 0)


def _native(f: IO[bytes], limit: int, depth: int) -> bool:
    if f.read(8).startswith(MAGICS):
        return True
    if depth >= MAX_DEPTH:
        return False
    f.seek(0)
    try:
        with tarfile.open(fileobj=f, mode="r:*") as tar:
            unpacked = 0
            for member in tar:
                unpacked += member.size
                if unpacked > limit:
                    raise Uninspectable(f"the archive unpacks to more than {limit} bytes")
                inner = tar.extractfile(member) if member.isfile() else None
                if inner is not None and _native(inner, limit, depth + 1):
                    return True
    except (tarfile.TarError, EOFError, OSError):  # not an archive (an ONNX file), or a broken one
        return False
    return False
