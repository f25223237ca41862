"""Helpers for the remote-target tests: a real `heiti server` process, raw protocol
sessions, and a pseudo-terminal pair bridged like a serial cable."""

from __future__ import annotations

import contextlib
import os
import re
import select
import socket
import subprocess
import sys
import threading
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.client import Client
from heiti.protocols.framing import Frame
from heiti.protocols.messages import MsgType
from heiti.protocols.transports import SerialTransport, SocketTransport


@contextlib.contextmanager
def server_process(log: Path, *args: str, wait_for: str = r"listening on tcp://[^:]+:(\d+)",
                   env: dict[str, str] | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """Start `heiti server ARGS` (``env`` added to ours) with stderr in ``log``; yield it and
    the announced address."""
    with open(log, "wb") as err:
        proc = subprocess.Popen([sys.executable, "-m", "heiti", "server", *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, **(env or {})})
    try:
        deadline = time.monotonic() + 120  # a bound for a broken server: start-up is slow under load
        while not (found := re.search(wait_for, log.read_text())):
            assert proc.poll() is None, f"server exited: {log.read_text()}"
            assert time.monotonic() < deadline, f"server did not start: {log.read_text()}"
            time.sleep(0.05)
        yield proc, found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def tcp_channel(port: int, timeout: float = 10) -> Channel:
    return Channel(SocketTransport.connect("127.0.0.1", port, timeout, timeout))


def hello(channel: Channel, token: str | None = None) -> Client:
    client = Client(channel)
    client.hello(token)
    return client


def healthy(port: int) -> bool:
    """A fresh, valid session: HELLO then PING answered with OK."""
    channel = tcp_channel(port)
    try:
        client = hello(channel)
        return client.request(MsgType.PING, b"ping").payload == b"ping"
    finally:
        channel.close()


def send_and_collect(port: int, data: bytes, half_close: bool = True) -> list[Frame]:
    """Send raw bytes on a new connection; return every frame the server answers with."""
    channel = tcp_channel(port, timeout=10)
    sock = channel.transport.sock
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        frames = []
        with contextlib.suppress(ConnectionError, OSError):
            while True:
                frames.append(channel.recv())
        return frames
    finally:
        channel.close()


def error_of(frames: list[Frame]) -> tuple[int, str]:
    errors = [f for f in frames if f.type == MsgType.ERROR]
    assert errors, f"no ERROR among {[f.type for f in frames]}"
    return m.unpack_error(errors[-1].payload)


class PtyCable:
    """Two pseudo-terminals whose master ends are joined by a thread, like a null-modem
    cable: each side opens its slave device with pyserial. ``damage`` may rewrite bytes
    in transit (to simulate line noise)."""

    def __init__(self, damage: Callable[[bytes], bytes] | None = None):
        self.masters, self.ports = [], []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo or line editing before pyserial configures it
            self.masters.append(master)
            self.ports.append(os.ttyname(slave))
            self._slaves = [*getattr(self, "_slaves", []), slave]
        self.damage = damage
        self._stop = False
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        a, b = self.masters
        while not self._stop:
            ready, _, _ = select.select([a, b], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    continue
                if self.damage is not None:
                    data = self.damage(data)
                os.write(b if fd == a else a, data)

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        for fd in self.masters + self._slaves:
            os.close(fd)


def serial_channel(port: str, timeout: float = 10) -> Channel:
    return Channel(SerialTransport(port, 115200, timeout))
