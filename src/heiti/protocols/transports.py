"""Byte transports under the protocol: TCP sockets, serial ports, pipes.

A transport moves bytes and nothing else: ``send`` writes everything,
``recv_some`` returns at least one byte (b"" at end of stream) or raises
TimeoutError, after its idle timeout or, when given, ``within`` seconds (the rest of
a frame's or a handshake's deadline). Framing, retransmission and message logic live
above it.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import subprocess
import time

CHUNK = 1 << 16


class Transport:
    name = "transport"
    reliable = True  # False: the link may damage bytes (serial); frames are NAKed and resent

    def send(self, data: bytes) -> None:
        raise NotImplementedError

    def recv_some(self, need: int, within: float | None = None) -> bytes:
        raise NotImplementedError

    def discard_input(self) -> None:
        """Drop bytes of a damaged frame still arriving, so the next read starts clean."""

    def close(self) -> None:
        pass


class SocketTransport(Transport):
    def __init__(self, sock: socket.socket, name: str, timeout: float | None):
        self.sock, self.name = sock, name
        # Timeouts by the kernel (SO_RCVTIMEO/SO_SNDTIMEO) on a blocking socket: Python's
        # own socket timeouts poll() before every call, doubling the system calls per sample.
        sock.settimeout(None)
        if timeout:
            seconds = int(timeout)
            value = struct.pack("ll", seconds, int((timeout - seconds) * 1e6))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            # one small frame per sample: Nagle's algorithm would hold it back for an ACK
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    @classmethod
    def connect(cls, host: str, port: int, connect_timeout: float, timeout: float) -> SocketTransport:
        sock = socket.create_connection((host, port), timeout=connect_timeout)
        return cls(sock, f"tcp://{host}:{port}", timeout)

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except BlockingIOError:  # SO_SNDTIMEO expired
            raise TimeoutError("the peer did not accept data within the timeout") from None

    def recv_some(self, need: int, within: float | None = None) -> bytes:
        # a deadline is the slow path (a frame arriving in pieces, a handshake): one poll
        # before the read instead of a socket option changed back and forth
        if within is not None and not select.select([self.sock], [], [], max(within, 0))[0]:
            raise TimeoutError("the deadline passed before the data arrived")
        try:
            return self.sock.recv(max(need, CHUNK))
        except BlockingIOError:  # SO_RCVTIMEO expired
            raise TimeoutError("no data within the read timeout") from None

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SerialTransport(Transport):
    reliable = False

    def __init__(self, port: str, baud: int, timeout: float | None):
        import serial  # pyserial: the "remote" extra

        self.name, self.baud = f"serial://{port}@{baud}", baud
        try:
            self.port = serial.Serial(port, baud, timeout=timeout, write_timeout=timeout)
        except (serial.SerialException, ValueError) as exc:
            raise ConnectionError(f"cannot open serial port {port}: {exc}") from None
        self._errors = (serial.SerialException, OSError)

    def send(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except self._errors as exc:
            raise ConnectionError(f"serial write failed: {exc}") from None

    def recv_some(self, need: int, within: float | None = None) -> bytes:
        idle = self.port.timeout
        if within is not None:
            self.port.timeout = max(min(within, idle or within), 0)
        try:
            data = self.port.read(max(need, self.port.in_waiting))
        except self._errors as exc:
            raise ConnectionError(f"serial read failed: {exc}") from None
        finally:
            if within is not None:
                self.port.timeout = idle
        if not data:  # a serial line has no end of stream: nothing within the timeout
            raise TimeoutError("no data within the read timeout")
        return data

    def discard_input(self) -> None:
        quiet = max(0.01, 200 * 10 / self.baud)  # 200 character times of silence
        try:
            while True:
                time.sleep(quiet)
                if not self.port.in_waiting:
                    break
                self.port.reset_input_buffer()
        except self._errors:
            pass

    def close(self) -> None:
        self.port.close()


class PipeTransport(Transport):
    """Two file descriptors: a child's stdout/stdin (client) or our own stdin/stdout (server)."""

    def __init__(self, read_fd: int, write_fd: int, name: str, timeout: float | None,
                 process: subprocess.Popen | None = None):
        self.read_fd, self.write_fd, self.name = read_fd, write_fd, name
        self.timeout, self.process = timeout, process

    @classmethod
    def spawn(cls, command: list[str], timeout: float) -> PipeTransport:
        from heiti.pipeline.library_log import terminal_stderr

        # its errors (ssh's, the remote heiti's) on the terminal, not in libraries.log
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                   stderr=terminal_stderr())
        assert process.stdout is not None and process.stdin is not None  # both are PIPE
        return cls(process.stdout.fileno(), process.stdin.fileno(), f"pipe://{command[0]}",
                   timeout, process)

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.write_fd, view) :]

    def recv_some(self, need: int, within: float | None = None) -> bytes:
        timeout = self.timeout if within is None else max(min(within, self.timeout or within), 0)
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if not ready:
            raise TimeoutError("no data within the read timeout")
        return os.read(self.read_fd, max(need, CHUNK))

    def close(self) -> None:
        if self.process is None:
            return
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
