"""File helpers: atomic writes, hashing and path checks with helpful messages."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heiti.errors import InputError


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only on success.

    Readers never see a half-written file and a failure leaves the old file intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; results are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, data: str | bytes) -> None:
    with atomic_path(path) as tmp:
        if isinstance(data, str):
            tmp.write_text(data, encoding="utf-8")
        else:
            tmp.write_bytes(data)


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def cache_root() -> Path:
    """Where heiti keeps work worth reusing across build folders: ``$HEITI_CACHE`` or
    ``~/.cache/heiti`` (safe to delete; it is refilled on demand)."""
    return Path(os.environ.get("HEITI_CACHE", Path.home() / ".cache" / "heiti"))


def sha256_file(path: Path) -> str:
    """Content hash of a file, or of a directory's files and their relative names."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def require_file(path: Path, given: str | Path | None = None, what: str = "file") -> Path:
    """Return ``path`` if it is an existing file, else raise naming it as given and as resolved."""
    path = Path(path)
    if not path.is_file():
        shown = f"'{given}' (resolved to '{path.resolve()}')" if given is not None else f"'{path}'"
        state = "is not a file" if path.exists() else "does not exist"
        raise InputError(f"{what} {shown} {state}")
    return path


def require_dir(path: Path, given: str | Path | None = None, what: str = "directory") -> Path:
    path = Path(path)
    if not path.is_dir():
        shown = f"'{given}' (resolved to '{path.resolve()}')" if given is not None else f"'{path}'"
        state = "is not a directory" if path.exists() else "does not exist"
        raise InputError(f"{what} {shown} {state}")
    return path


def refuse_inside(output: Path, data: list[Path], what: str) -> None:
    """Refuse an output location inside (or equal to) a dataset's file or folder: heiti
    never writes among a user's data, where its files could overwrite or join the samples."""
    out = Path(output).resolve()
    for path in data:
        path = Path(path).resolve()
        if path == out or path in out.parents:
            raise InputError(f"{what} '{out}' is inside the dataset '{path}'; heiti never writes "
                             "into a dataset", hint=f"choose a {what} outside '{path}'")


def make_dir(path: Path, what: str = "output folder") -> Path:
    """Create ``path`` (and parents) as a folder; a file in its place is named in the refusal."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{what} '{path}' is not a directory but a file",
                         hint=f"choose another {what}, or move the file away")
    path.mkdir(parents=True, exist_ok=True)
    return path
