"""Frames: a 14-byte little-endian header, then the payload (docs/protocol.md).

    offset size field
    0      2    magic b"HT"
    2      1    protocol version (1)
    3      1    message type
    4      1    flags
    5      1    reserved (0)
    6      4    payload length (u32)
    10     4    CRC-32 (zlib/IEEE) over bytes 0..9 and the payload

The length is checked against the receiver's limit before any payload byte is
read, so a hostile length field cannot make a receiver allocate or wait.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from heiti.protocols.messages import ErrorCode

MAGIC = b"HT"
VERSION = 2
HEADER = struct.Struct("<2sBBBBI")   # everything the CRC covers before the payload
HEADER_SIZE = HEADER.size + 4        # plus the CRC itself
CRC = struct.Struct("<I")
DEFAULT_MAX_MESSAGE = 8 * 2**20


class FrameError(Exception):
    """A frame that cannot be accepted; ``code`` is the protocol error code to report."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    flags: int
    payload: bytes


def encode(msg_type: int, payload: bytes = b"", flags: int = 0) -> bytes:
    head = HEADER.pack(MAGIC, VERSION, msg_type, flags, 0, len(payload))
    return head + CRC.pack(zlib.crc32(payload, zlib.crc32(head))) + payload


def decode_header(head: bytes, max_message: int) -> tuple[int, int, int, int]:
    """Check a header; return (type, flags, payload length, crc)."""
    magic, version, msg_type, flags, _reserved, length = HEADER.unpack_from(head)
    if magic != MAGIC:
        raise FrameError(ErrorCode.BAD_FRAME, f"bad magic {magic!r} (expected {MAGIC!r})")
    if version != VERSION:
        raise FrameError(ErrorCode.VERSION, f"protocol version {version} is not supported "
                                            f"(this side speaks {VERSION})")
    if length > max_message:
        raise FrameError(ErrorCode.TOO_LARGE, f"message of {length} bytes exceeds the limit "
                                              f"of {max_message} bytes")
    return msg_type, flags, length, CRC.unpack_from(head, HEADER.size)[0]


def check_crc(head: bytes, payload: bytes, crc: int) -> None:
    if zlib.crc32(payload, zlib.crc32(head[: HEADER.size])) != crc:
        raise FrameError(ErrorCode.CRC, "CRC-32 mismatch")
