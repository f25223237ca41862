"""Message types, error codes, flags and payload encodings (docs/protocol.md).

Per-sample messages (DATA, PROCESS, OUTPUT) are binary; control messages carry a
UTF-8 JSON object. Nothing received is ever unpickled.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import struct
import sys
from enum import IntEnum
from typing import Any

import numpy as np


class MsgType(IntEnum):
    HELLO = 0x01
    AUTH = 0x02
    OK = 0x03
    ERROR = 0x04
    NAK = 0x05             # link level: "your last frame arrived damaged, send it again"
    MODEL_BEGIN = 0x10
    MODEL_CHUNK = 0x11
    MODEL_END = 0x12
    IOSPEC = 0x13
    DATA = 0x20
    PROCESS = 0x21
    PROCESS_STARTED = 0x22
    PROCESS_DONE = 0x23
    OUTPUT = 0x24
    STATS = 0x30
    PING = 0x40
    BYE = 0x41


class ErrorCode(IntEnum):
    BAD_FRAME = 1        # wrong magic, truncated frame, malformed payload
    VERSION = 2          # no common protocol version
    CRC = 3              # CRC-32 mismatch
    TOO_LARGE = 4        # a message or an upload above the receiver's limit
    UNKNOWN_TYPE = 5
    OUT_OF_ORDER = 6     # e.g. PROCESS before a model is loaded
    AUTH = 7             # authentication required or failed
    REFUSED = 8          # native code, a runtime the server does not offer
    MODEL_LOAD = 9       # the runtime could not load the model
    BAD_INPUT = 10       # tensors not matching the IO specification
    INFERENCE = 11       # the runtime failed while running
    INTERNAL = 12


# flags (header byte 4)
FLAG_NO_ACK = 0x01       # DATA: do not send OK on success (errors are still reported)
FLAG_WITH_OUTPUT = 0x02  # PROCESS: send OUTPUT right after PROCESS_DONE

DTYPES = {1: "float32", 2: "float16", 3: "int8", 4: "uint8", 5: "int16", 6: "int32",
          7: "int64", 8: "float64", 9: "bool", 10: "uint16"}
DTYPE_CODES = {name: code for code, name in DTYPES.items()}
MAX_DIMS = 8
MAX_JSON_DEPTH = 32     # control messages need 6 levels
_COUNT = struct.Struct("<B3x")
_TENSOR = struct.Struct("<BBxx")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_ERROR = struct.Struct("<H")
_SHAPES = [f"<{n}I" for n in range(MAX_DIMS + 1)]
_BIG_ENDIAN_HOST = sys.byteorder == "big"


class PayloadError(ValueError):
    """A payload that does not follow its message's layout."""


# --- JSON control payloads ---------------------------------------------------------

def pack_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def unpack_json(payload: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(payload.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError) as exc:  # ValueError: also numbers of > 4300 digits
        raise PayloadError(f"payload is not UTF-8 JSON: {exc}") from None
    except RecursionError:
        obj = _TOO_DEEP
    if obj is _TOO_DEEP or _too_deep(obj):
        raise PayloadError(f"payload is nested more than {MAX_JSON_DEPTH} levels deep")
    if not isinstance(obj, dict):
        raise PayloadError("payload must be a JSON object")
    return obj


_TOO_DEEP = object()


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def _too_deep(obj: Any) -> bool:
    """Deeper than MAX_JSON_DEPTH? (a deep value would later overflow a recursive consumer)"""
    level = [obj]
    for _ in range(MAX_JSON_DEPTH):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return True


# --- ERROR, PROCESS_DONE ---------------------------------------------------------

def pack_error(code: int, text: str) -> bytes:
    return _ERROR.pack(int(code)) + text.encode("utf-8", "replace")


def unpack_error(payload: bytes) -> tuple[int, str]:
    if len(payload) < _ERROR.size:
        return ErrorCode.BAD_FRAME, "malformed ERROR message"
    return _ERROR.unpack_from(payload)[0], payload[_ERROR.size :].decode("utf-8", "replace")


def error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"code {code}"


def pack_ns(ns: int) -> bytes:
    return _U64.pack(ns)


def unpack_ns(payload: bytes) -> int:
    if len(payload) != _U64.size:
        raise PayloadError("PROCESS_DONE carries an 8-byte inference time")
    return _U64.unpack(payload)[0]


# --- tensors (DATA and OUTPUT) ---------------------------------------------------
# Hot path (once per sample on both sides): headers are cached per (dtype, shape) and
# numpy dtype objects are looked up, never built or named, per call.

_NP = {code: np.dtype(name).newbyteorder("<") for code, name in DTYPES.items()}
_CODE_OF = {np.dtype(name): code for code, name in DTYPES.items()}
_HEADERS: dict[tuple[np.dtype, tuple[int, ...]], bytes] = {}


def tensor_count(count: int) -> bytes:
    return _COUNT.pack(count)


def tensor_header(dtype: np.dtype, shape: tuple[int, ...]) -> bytes:
    header = _HEADERS.get((dtype, shape))
    if header is None:
        code = _CODE_OF.get(dtype.newbyteorder("="))
        if code is None or len(shape) > MAX_DIMS:
            raise PayloadError(f"a {dtype.name} tensor of {len(shape)} dimensions cannot be sent "
                               f"(dtypes: {', '.join(DTYPE_CODES)}; up to {MAX_DIMS} dimensions)")
        header = _TENSOR.pack(code, len(shape)) + b"".join(_U32.pack(d) for d in shape)
        if len(_HEADERS) < 256:
            _HEADERS[(dtype, shape)] = header
    return header


def pack_tensors(arrays: list[np.ndarray]) -> bytes:
    parts = [tensor_count(len(arrays))]
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and _BIG_ENDIAN_HOST):
            a = a.astype(a.dtype.newbyteorder("<"))
        parts.append(tensor_header(a.dtype, a.shape))
        parts.append(a.tobytes())
    return b"".join(parts)


def unpack_tensors(payload: bytes) -> list[np.ndarray]:
    """Decode tensors as read-only views into ``payload`` (no copy)."""
    if len(payload) < _COUNT.size:
        raise PayloadError("tensor payload is shorter than its count field")
    (count,), offset, arrays = _COUNT.unpack_from(payload), _COUNT.size, []
    for i in range(count):
        if offset + _TENSOR.size > len(payload):
            raise PayloadError(f"tensor {i}: header truncated")
        code, ndim = _TENSOR.unpack_from(payload, offset)
        offset += _TENSOR.size
        dtype = _NP.get(code)
        if dtype is None or ndim > MAX_DIMS:
            raise PayloadError(f"tensor {i}: unknown dtype code {code} or {ndim} dimensions")
        if offset + 4 * ndim > len(payload):
            raise PayloadError(f"tensor {i}: shape truncated")
        shape = struct.unpack_from(_SHAPES[ndim], payload, offset)
        offset += 4 * ndim
        items = math.prod(shape)
        if offset + items * dtype.itemsize > len(payload):
            raise PayloadError(f"tensor {i}: {items * dtype.itemsize} data bytes announced, "
                               f"{len(payload) - offset} present")
        arrays.append(np.frombuffer(payload, dtype, count=items, offset=offset).reshape(shape))
        offset += items * dtype.itemsize
    if offset != len(payload):
        raise PayloadError(f"{len(payload) - offset} bytes after the last tensor")
    return arrays


def describe_tensors(arrays: list[np.ndarray]) -> str:
    return ", ".join(f"{a.dtype.name}{list(a.shape)}" for a in arrays)


# --- authentication ----------------------------------------------------------------

def auth_response(token: str, nonce: bytes) -> bytes:
    """HMAC-SHA256 of the server's nonce, keyed with the shared token."""
    return hmac.new(token.encode("utf-8"), nonce, hashlib.sha256).digest()


def auth_ok(token: str, nonce: bytes, response: bytes) -> bool:
    return hmac.compare_digest(auth_response(token, nonce), response)
