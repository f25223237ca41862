"""Waiting on a child process's readiness lines instead of sleeping: a thread reads its
stream (so the child never blocks on a full pipe) and the test waits for a line."""

from __future__ import annotations

import re
import threading
from typing import IO


class Lines:
    """Every line ``stream`` gives, as it arrives."""

    def __init__(self, stream: IO[str]):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 600) -> re.Match[str]:
        """The first line matching ``pattern``; fails when the stream ends or after ``timeout``
        (a bound for a broken child, not a synchronization)."""
        def found() -> re.Match[str] | None:
            return next((m for m in map(re.compile(pattern).search, self.lines) if m), None)

        with self._changed:
            if not self._changed.wait_for(lambda: found() or self._ended, timeout):
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s:\n{self.text()}")
            match = found()
            assert match, f"the stream ended without a line matching {pattern!r}:\n{self.text()}"
            return match

    def text(self) -> str:
        """What was read so far."""
        return "".join(self.lines)

    def finish(self, timeout: float = 30) -> str:
        """All lines, after the stream has ended (the child exited)."""
        self._reader.join(timeout)
        return "".join(self.lines)


def run_in_pty(argv: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal as its stdin, stdout and stderr, as in a terminal
    window; return its exit code and everything it wrote (read until it closed the terminal,
    ``timeout`` only bounds a broken child)."""
    import os
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                   start_new_session=True)
    finally:
        os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                process.kill()
                raise AssertionError(f"{argv} wrote nothing for {timeout} s:\n" + b"".join(chunks).decode())
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child and everything it started closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(master)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")
