"""What heiti prints while it works: status lines and progress with a count and an ETA
(a bar on a terminal, quiet periodic lines elsewhere), all silenced by ``heiti --quiet``
or ``HEITI_QUIET=1``, which also quiets other libraries' logging."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any, TextIO

QUIET_ENV = "HEITI_QUIET"
# native libraries that log to stderr by themselves read these before they load
_LIBRARY_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3",      # TensorFlow, LiteRT (absl C++ logging)
                "GLOG_minloglevel": "3",          # glog users (JAX/XLA, some TVM builds)
                "TORCH_CPP_LOG_LEVEL": "ERROR",   # PyTorch's C++ warnings
                "KMP_WARNINGS": "0",              # Intel OpenMP
                "RAY_DEDUP_LOGS": "1"}

_bars: list[Progress] = []  # bars drawn on a terminal now, newest last


def quiet() -> bool:
    return os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def quieted() -> Iterator[None]:
    """Silence heiti's status lines and progress, and other libraries' logging and warnings
    (errors still print), until the block ends. Set in the environment, so that worker
    processes started inside inherit it."""
    saved = {name: os.environ.get(name) for name in (QUIET_ENV, *_LIBRARY_ENV)}
    disabled = logging.root.manager.disable
    os.environ[QUIET_ENV] = "1"
    for name, value in _LIBRARY_ENV.items():
        os.environ.setdefault(name, value)
    logging.disable(logging.WARNING)  # every logger: torch, absl, jax, nncf, optuna, ray, ...
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(disabled)
        for name, before in saved.items():
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before


def status(message: str, stream: TextIO | None = None) -> None:
    """One status line (``heiti: ...``); a bar on the same terminal is cleared first and drawn
    again below the line, so that nothing is printed onto a bar."""
    if quiet():
        return
    stream = stream or sys.stderr
    bars = [bar for bar in _bars if bar.stream is stream]
    if bars:
        stream.write("\r\x1b[K")
    stream.write(message + "\n")
    if bars:
        bars[-1].draw()
    stream.flush()


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def eta(elapsed_s: float, done: int, total: int) -> str:
    """'ETA 2 min 10 s' from the pace so far ('' before the first or after the last)."""
    if done <= 0 or done >= total:
        return ""
    return f"ETA {duration(elapsed_s / done * (total - done))}"


class Progress:
    """A count of ``total`` with an ETA; use it as a context manager (or call ``close``) so
    that a bar ends its line even when the work stops early (an exception, a pruned trial)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, every_s: float = 10.0):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.done = 0
        self.note = ""
        self._quiet = quiet()
        self._tty = self.stream.isatty() and not self._quiet
        self._last = time.monotonic()
        self._start = self._last

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        self.note = note
        if self._tty:
            if self not in _bars:
                _bars.append(self)
            self.draw()
            return
        now = time.monotonic()
        if not self._quiet and (now - self._last >= self.every_s or self.done >= self.total):
            left = eta(now - self._start, self.done, self.total)
            self.stream.write(f"{self.label}: {self.done}/{self.total} {left} {note}".rstrip() + "\n")
            self._last = now

    def draw(self) -> None:
        width = 30
        filled = int(width * min(self.done, self.total) / self.total)
        bar = "#" * filled + "-" * (width - filled)
        left = eta(time.monotonic() - self._start, self.done, self.total)
        self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {left} {self.note}\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        if self in _bars:
            _bars.remove(self)
            self.stream.write("\n")
        if not self._quiet:
            self.stream.flush()
