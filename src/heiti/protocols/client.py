"""The host side of a session: HELLO (+ AUTH), model upload, IO spec, statistics, BYE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.framing import VERSION, Frame
from heiti.protocols.messages import MsgType

CHUNK = 256 * 1024


class RemoteError(Exception):
    """The target answered with ERROR."""

    def __init__(self, code: int, text: str):
        super().__init__(f"{m.error_name(code)}: {text}")
        self.code, self.text = code, text


class Client:
    def __init__(self, channel: Channel):
        self.channel = channel
        self.server: dict[str, Any] = {}

    def request(self, msg_type: int, payload: bytes = b"", expect: int = MsgType.OK) -> Frame:
        self.channel.send(msg_type, payload)
        return self.expect(expect)

    def expect(self, *msg_types: int) -> Frame:
        frame = self.channel.recv()
        if frame.type == MsgType.ERROR:
            raise RemoteError(*m.unpack_error(frame.payload))
        if frame.type not in msg_types:
            wanted = " or ".join(MsgType(t).name for t in msg_types)
            raise RemoteError(m.ErrorCode.OUT_OF_ORDER, f"expected {wanted}, received message "
                                                        f"type 0x{frame.type:02x}")
        return frame

    def hello(self, token: str | None) -> dict[str, Any]:
        reply = self.request(MsgType.HELLO, m.pack_json({"versions": [VERSION], "client": "heiti"}),
                             expect=MsgType.HELLO)
        self.server = m.unpack_json(reply.payload)
        if self.server.get("auth"):
            if not token:
                raise RemoteError(m.ErrorCode.AUTH, "the target requires a token (target.token or "
                                                    "HEITI_TOKEN)")
            self.request(MsgType.AUTH, m.auth_response(token, bytes.fromhex(self.server["nonce"])))
        return self.server

    def upload(self, path: Path, sidecar: dict[str, Any], runtime: dict[str, Any] | None,
               chunk: int = CHUNK) -> dict[str, Any]:
        """Send a model file (a directory travels as a tar); return the target's MODEL_END answer."""
        from heiti.core.files import sha256_file
        from heiti.protocols.packing import pack_dir

        path = Path(path)
        sent = pack_dir(path) if path.is_dir() else path
        try:
            chunk = min(chunk, int(self.server.get("max_message", CHUNK)) - 64)
            self.request(MsgType.MODEL_BEGIN, m.pack_json({
                "name": path.name, "size": sent.stat().st_size, "sha256": sha256_file(sent),
                "packing": "tar" if sent != path else None, "sidecar": sidecar, "runtime": runtime}))
            with open(sent, "rb") as f:
                for block in iter(lambda: f.read(chunk), b""):
                    self.request(MsgType.MODEL_CHUNK, block)
            return m.unpack_json(self.request(MsgType.MODEL_END).payload)
        finally:
            if sent != path:
                sent.unlink()

    def stats(self) -> dict[str, Any]:
        return m.unpack_json(self.request(MsgType.STATS, expect=MsgType.STATS).payload)

    def bye(self) -> None:
        self.request(MsgType.BYE)
