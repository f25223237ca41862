"""Other libraries' log records and warnings while a heiti command runs.

heiti prints its own status lines; what torch, optuna, NNCF, JAX, ... log below ERROR and
the warnings they raise are appended to ``libraries.log`` in the build folder of the
scenario the command works on, not printed between heiti's lines. Errors still reach the
terminal, ``heiti --verbose`` lets everything through, and a command without a scenario
(no build folder) leaves them as they are. Records a library's own console handler would
print (optuna, absl and others attach one) are caught where every such handler writes,
in ``logging.StreamHandler.emit``, when it writes to stdout or stderr; handlers writing
elsewhere (log files, pytest's caplog) are left alone.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import heiti

FILE_NAME = "libraries.log"
_HEITI_DIR = str(Path(heiti.__file__).resolve().parent)
_file: Path | None = None  # where records go now; None: nowhere yet (they print as usual)
_active = False


def log_to(build_dir: Path) -> None:
    """Send the records to ``build_dir/libraries.log`` from now on (while capture is on)."""
    global _file
    if _active:
        _file = Path(build_dir) / FILE_NAME


@contextlib.contextmanager
def captured(verbose: bool) -> Iterator[None]:
    """Capture other libraries' records below ERROR and their warnings for the block."""
    global _active, _file
    if verbose:
        yield
        return
    emit, show = logging.StreamHandler.emit, warnings.showwarning

    def routed_emit(handler: logging.StreamHandler, record: logging.LogRecord) -> None:
        console = handler.stream in (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
        if not (console and _captures(record) and _write(handler.format(record))):
            emit(handler, record)

    def routed_show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    file: Any = None, line: str | None = None) -> None:
        own = str(Path(filename).resolve()).startswith(_HEITI_DIR)
        if own or not _write(warnings.formatwarning(message, category, filename, lineno, line).rstrip()):
            show(message, category, filename, lineno, file, line)

    logging.StreamHandler.emit = routed_emit  # type: ignore[method-assign,assignment]
    warnings.showwarning = routed_show
    _active, _file = True, None
    try:
        yield
    finally:
        logging.StreamHandler.emit = emit  # type: ignore[method-assign,assignment]
        warnings.showwarning = show
        _active, _file = False, None


def _captures(record: logging.LogRecord) -> bool:
    return record.levelno < logging.ERROR and record.name != "heiti" and not record.name.startswith("heiti.")


def _write(text: str) -> bool:
    """Append one entry to the log file; False when there is none (or it cannot be written)."""
    if _file is None:
        return False
    try:
        _file.parent.mkdir(parents=True, exist_ok=True)
        with _file.open("a", encoding="utf-8") as out:
            out.write(text + "\n")
    except OSError:  # a read-only build folder: the line prints rather than being lost
        return False
    return True
