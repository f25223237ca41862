"""Other libraries' log records and warnings while a heiti command runs.

heiti prints its own status lines; what torch, optuna, NNCF, JAX, ... log below ERROR and
the warnings they raise are appended to ``libraries.log`` in the build folder of the
scenario the command works on, not printed between heiti's lines. Errors still reach the
terminal, ``heiti --verbose`` lets everything through, and a command without a scenario
(no build folder) leaves them as they are. Records a library's own console handler would
print (optuna, absl and others attach one) are caught where every such handler writes,
in ``logging.StreamHandler.emit``, when it writes to stdout or stderr; handlers writing
elsewhere (log files, pytest's caplog) are left alone.

Native code (absl, cpuinfo, TensorFlow Lite's "Created ... XNNPACK delegate", OpenVINO's
plugins) writes to file descriptor 2 itself, past Python. From the moment the build folder is
known until the command ends, file descriptor 2 is the log file (``os.dup2``) and
``sys.stderr`` a new stream on a duplicate of the terminal's descriptor, so that heiti's own
lines, errors included, still reach the terminal; then both are put back. Processes heiti
starts with an inherited stderr write to the log too, unless they are given
``terminal_stderr()`` (a remote target's ssh, whose errors the user has to see).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import heiti

FILE_NAME = "libraries.log"
_HEITI_DIR = str(Path(heiti.__file__).resolve().parent)
_file: Path | None = None  # where records go now; None: nowhere yet (they print as usual)
_active = False
_lock = threading.Lock()  # commands that load scenarios in threads re-point fd 2 one at a time
_terminal_fd: int | None = None  # a duplicate of fd 2 as it was, while fd 2 is the log file
_stderr: Any = None  # sys.stderr as it was, when it wrote to fd 2 and was replaced ...
_terminal: Any = None  # ... by this stream to the terminal
_made: list[Path] = []  # log files and folders made for fd 2: removed at the end if still empty


def log_to(build_dir: Path) -> None:
    """Send the records to ``build_dir/libraries.log`` from now on (while capture is on)."""
    global _file
    if _active:
        _file = Path(build_dir) / FILE_NAME
        _native_to(_file)


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
        if console and _captures(record) and _write(handler.format(record)):
            return
        if _stderr is not None and handler.stream is _stderr:  # it holds fd 2, the log file now
            handler.stream = sys.stderr  # under the handler's lock, held while it emits
            try:
                emit(handler, record)
            finally:
                handler.stream = _stderr
        else:
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
        _native_back()
        _active, _file = False, None


def _native_to(path: Path) -> None:
    """Make fd 2 the log file ``path`` (again, when a command moves to another build folder)."""
    global _terminal_fd, _stderr, _terminal
    with _lock:
        folders = [p for p in (path.parent, *path.parent.parents) if not p.exists()]  # deepest first
        fresh = not path.exists()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            log = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError:  # a read-only build folder: native lines print as usual
            return
        _made.extend([path] * fresh + folders)
        try:
            sys.stderr.flush()
            if _terminal_fd is None:
                _terminal_fd = os.dup(2)
                if _writes_to_fd2(sys.stderr):
                    # on its own descriptor, closed with it: a stream kept past the command
                    # fails to write rather than writing to a reused descriptor
                    _stderr = sys.stderr
                    _terminal = sys.stderr = open(os.dup(_terminal_fd), "w", buffering=1,  # noqa: SIM115
                                                  encoding=_stderr.encoding, errors="backslashreplace")
            os.dup2(log, 2)
        finally:
            os.close(log)


def _native_back() -> None:
    """fd 2 and sys.stderr as they were before ``_native_to``; a log file nothing was written
    to is removed with the folders made for it (a command refused for bad input leaves no
    build folder behind)."""
    global _terminal_fd, _stderr, _terminal
    with _lock:
        if _terminal_fd is not None:
            sys.stderr.flush()
            os.dup2(_terminal_fd, 2)
            os.close(_terminal_fd)
            if _terminal is not None:
                if sys.stderr is _terminal:
                    sys.stderr = _stderr
                _terminal.close()
            _terminal_fd = _stderr = _terminal = None
        _remove_unused()


def terminal_stderr() -> Any:
    """The stderr for a child process whose messages belong on the terminal: heiti's
    ``sys.stderr`` when it is a file (fd 2 may be the log file), else the inherited fd 2."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return None
    return sys.stderr


def _remove_unused() -> None:
    for path in _made:
        with contextlib.suppress(OSError):  # written to, or not empty: it stays
            if path.is_dir():
                path.rmdir()
            elif path.stat().st_size == 0:
                path.unlink()
    _made.clear()


def _writes_to_fd2(stream: Any) -> bool:
    try:
        return bool(stream.fileno() == 2)
    except (AttributeError, OSError, ValueError):  # pytest's capture, a StringIO
        return False


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
