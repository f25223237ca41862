"""A board emulated by QEMU: the firmware's UART on a Unix socket, deterministic instruction
counting (``-icount shift=0``), and a process that never outlives the run.

QEMU waits for the host to connect before it starts the CPU, so no byte the firmware
sends is lost; ``stop`` kills it whatever state it is in, and on Linux the kernel kills it
too should heiti itself die (parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from heiti.boards import Board
from heiti.errors import InputError

SOCKET_NAME = "uart.sock"


def qemu_command(board: Board, elf: Path, uart: str) -> list[str]:
    """QEMU running ``elf`` with the UART on the character device ``uart`` (id ``uart``),
    e.g. ``socket,id=uart,path=...`` or ``pty,id=uart`` (a pseudo-terminal: a serial port)."""
    program = shutil.which(board.qemu.program)
    if program is None:
        raise InputError(f"board '{board.name}': the emulator '{board.qemu.program}' is not on PATH",
                         hint=f"apt-get install {board.qemu.package}")
    exits = (["-semihosting-config", "enable=on,target=native"] if board.family == "cortex-m" else [])
    return [program, "-M", board.qemu.machine, *board.qemu.options, "-display", "none",
            "-monitor", "none", "-icount", "shift=0", *exits,
            "-chardev", uart, "-serial", "chardev:uart", "-kernel", str(elf)]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Emulation:
    """One QEMU process running one firmware image."""

    def __init__(self, board: Board, elf: Path):
        self.board = board
        self._folder = Path(tempfile.mkdtemp(prefix="heiti-qemu-"))
        self.socket_path = self._folder / SOCKET_NAME
        try:  # the folder goes whatever fails here: a missing emulator, a QEMU that cannot start
            command = qemu_command(board, elf, f"socket,id=uart,path={self.socket_path},server=on,"
                                               "wait=on")
            self._log = open(self._folder / "qemu.log", "w+b")  # noqa: SIM115 (closed in stop)
            try:
                self.process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            except BaseException:
                self._log.close()
                raise
        except BaseException:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise

    def connect(self, timeout: float) -> socket.socket:
        """The UART's socket, once QEMU listens on it."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise ConnectionError(f"QEMU exited with status {self.process.returncode} before the "
                                      f"UART was connected: {self.output()}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(self.socket_path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
                if time.monotonic() > deadline:
                    raise TimeoutError("QEMU did not open the UART socket in time") from None
                time.sleep(0.02)

    def output(self) -> str:
        """What QEMU printed (its own errors; the firmware talks over the UART)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-2000:].decode("utf-8", "replace").strip()

    def exit_status(self, wait: float = 0.0) -> int | None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return self.process.wait(wait) if wait else self.process.poll()
        return None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._log.close()
        shutil.rmtree(self._folder, ignore_errors=True)
