"""Models that are directories (an OpenVINO IR, a C project) travel as one uncompressed tar.

Unpacking is what a server does with bytes from a stranger, so it refuses absolute
paths, ``..``, links and devices (tarfile's "data" filter) and caps the total size.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PackingError(ValueError):
    pass


def pack_dir(folder: Path) -> Path:
    """Write ``folder``'s files to a temporary tar (the caller deletes it)."""
    fd, name = tempfile.mkstemp(prefix="heiti-upload-", suffix=".tar")
    with open(fd, "wb") as out, tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for file in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            tar.add(file, arcname=file.relative_to(folder).as_posix(), recursive=False)
    return Path(name)


def unpack_tar(archive: Path, dest: Path, limit: int) -> None:
    try:
        with tarfile.open(archive, mode="r:") as tar:
            members = tar.getmembers()
            if sum(member.size for member in members) > limit:
                raise PackingError(f"the archive unpacks to more than {limit} bytes")
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise PackingError(f"cannot unpack the model archive: {exc}") from None


def files_in(path: Path) -> Iterator[Path]:
    path = Path(path)
    yield from (sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
