"""Progress for long work: a bar on a terminal, quiet periodic log lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, stream: TextIO | None = None, every_s: float = 10.0):
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.every_s = every_s
        self.done = 0
        self._tty = self.stream.isatty()
        self._last = time.monotonic()
        self._start = self._last

    def update(self, n: int = 1, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if self._tty:
            width = 30
            filled = int(width * self.done / self.total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r{self.label} [{bar}] {self.done}/{self.total} {note}\x1b[K")
            self.stream.flush()
        elif now - self._last >= self.every_s or self.done >= self.total:
            self.stream.write(f"{self.label}: {self.done}/{self.total} {note}\n")
            self._last = now

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
        self.stream.flush()
