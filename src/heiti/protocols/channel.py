"""Frames over a transport: buffered reads, limits, and NAK retransmission on serial links.

On an unreliable link a damaged frame is answered with NAK (after letting the rest of
it drain) and the peer resends its last transmission, up to ``retransmits`` times in
a row; past that, or on a reliable link, a damaged frame is an error.

Deadlines (a server's defence against clients that trickle bytes): once a frame has
begun it must be complete within ``frame_timeout`` seconds, and ``deadline`` (a
``time.monotonic()`` instant, set for a handshake) bounds every read. Neither costs a
system call while each frame arrives in one read.
"""

from __future__ import annotations

import time

from heiti.protocols.framing import (
    DEFAULT_MAX_MESSAGE,
    HEADER_SIZE,
    Frame,
    FrameError,
    check_crc,
    decode_header,
    encode,
)
from heiti.protocols.messages import ErrorCode, MsgType
from heiti.protocols.transports import Transport

NAK_FRAME = encode(MsgType.NAK)


class Channel:
    def __init__(self, transport: Transport, max_message: int = DEFAULT_MAX_MESSAGE,
                 retransmits: int = 3):
        self.transport = transport
        self.max_message = max_message
        self.retransmits = 0 if transport.reliable else retransmits
        self._buf = bytearray()
        self._last = b""
        self.frame_timeout: float | None = None
        self.deadline: float | None = None
        self._frame_end: float | None = None

    @property
    def name(self) -> str:
        return self.transport.name

    def send(self, msg_type: int, payload: bytes = b"", flags: int = 0) -> None:
        self.send_raw(encode(msg_type, payload, flags))

    def send_raw(self, frames: bytes) -> None:
        """Send pre-encoded frames in one call; they are what a NAK makes us resend."""
        self._last = frames
        self.transport.send(frames)

    def recv(self) -> Frame:
        damaged = resent = 0
        while True:
            try:
                frame = self._read_frame()
            except (FrameError, TimeoutError) as exc:
                # a timeout in the middle of a frame on a serial line is a damaged frame too
                partial = isinstance(exc, TimeoutError) and self._buf
                if damaged >= self.retransmits or not (isinstance(exc, FrameError) or partial):
                    raise
                damaged += 1
                self._buf.clear()
                self.transport.discard_input()
                self.transport.send(NAK_FRAME)
                continue
            if frame.type == MsgType.NAK and self.retransmits:
                if not self._last or resent >= self.retransmits:
                    raise FrameError(ErrorCode.CRC, "the peer keeps rejecting our frames as damaged")
                resent += 1
                self.transport.send(self._last)
                continue
            return frame

    def _read_frame(self) -> Frame:
        self._frame_end = None
        head = self._read(HEADER_SIZE, first=True)
        msg_type, flags, length, crc = decode_header(head, self.max_message)
        payload = self._read(length) if length else b""
        check_crc(head, payload, crc)
        return Frame(msg_type, flags, payload)

    def _read(self, n: int, first: bool = False) -> bytes:
        buf = self._buf
        while len(buf) < n:
            started = bool(buf) or not first
            within = None
            if self.deadline is not None or (started and self.frame_timeout):
                within = self._within(started)
            chunk = self.transport.recv_some(n - len(buf), within)
            if not chunk:
                if first and not buf:
                    raise ConnectionError("the peer closed the connection")
                raise FrameError(ErrorCode.BAD_FRAME, "truncated frame: the peer closed the "
                                                      "connection in the middle of it")
            buf += chunk
        if len(buf) == n:  # the usual case: one frame per read
            out = bytes(buf)
            buf.clear()
            return out
        out = bytes(buf[:n])
        del buf[:n]
        return out

    def _within(self, started: bool) -> float:
        """Seconds left for the next read; TimeoutError when a deadline has passed."""
        now = time.monotonic()
        if started and self.frame_timeout and self._frame_end is None:
            self._frame_end = now + self.frame_timeout
        ends = [end for end in (self.deadline, self._frame_end if started else None) if end is not None]
        left = min(ends) - now
        if left <= 0:
            what = "the handshake" if self.deadline is not None else "a frame"
            raise TimeoutError(f"{what} took longer than its deadline")
        return left

    def close(self) -> None:
        self.transport.close()
