"""Files a measurements file names (``files.examples``): taken only from its own folder.

Measurements files travel between people (``heiti report A B`` compares theirs with
yours), so a reference is data, not a path to follow: it must be a relative name that,
symlinks resolved, stays inside the folder holding the measurements file. Anything else
(``/etc/passwd``, ``../x``, a link out of the folder) is left out of the report with a
warning, as is a figure that is not a PNG: the rest of the report is still worth having.
"""

from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def referenced_png(folder: Path, name: str, role: str) -> tuple[bytes | None, str | None]:
    """The PNG that ``files.<role>`` names, or None and why it was left out (None, None:
    no such file, e.g. a measurements file copied without its figures)."""
    problem = _outside(folder, name)
    if problem is None:
        path = folder / name
        if not path.is_file():
            return None, None
        data = path.read_bytes()
        if data.startswith(PNG_SIGNATURE):
            return data, None
        problem = "is not a PNG image"
    why = (f"files.{role} '{_shown(name)}' in the measurements file in '{folder}' {problem}; "
           "the report leaves it out")
    print(f"heiti: warning: {why}", file=sys.stderr, flush=True)
    return None, why


def _outside(folder: Path, name: str) -> str | None:
    """Why ``name`` is not a file of ``folder`` (None: it is one)."""
    if not name or "\0" in name or "\\" in name:
        return "is not a plain file name"
    if PurePosixPath(name).is_absolute():
        return "is an absolute path, and only files beside the measurements file are read"
    if ".." in PurePosixPath(name).parts:
        return "leaves the measurements file's folder"
    root = folder.resolve()
    if not (folder / name).resolve().is_relative_to(root):
        return "is a link out of the measurements file's folder"
    return None


def _shown(name: str) -> str:
    """A reference as text fit for a terminal and a report (control characters escaped)."""
    shown = name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
    return shown if len(shown) <= 200 else shown[:200] + "..."
