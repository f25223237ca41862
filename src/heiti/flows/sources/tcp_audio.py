"""Raw audio from a TCP client (a microphone on a device, ``arecord | nc``), cut into windows.

Like ``heiti server``, the source listens on loopback unless told otherwise, and on any
other address only with a token (``token`` or ``$HEITI_TOKEN``): the client's first line.
A client must send within ``read_timeout_s``: one that connects and stays silent (or
sends no correct token line) is dropped and the source waits for the next; one that
stops sending mid-stream ends the flow with an error, after the windows already heard.
"""

from __future__ import annotations

import hmac
import os
import socket
import sys
import time
from collections.abc import Iterator

import numpy as np
from pydantic import Field, SecretStr, model_validator

from heiti.errors import RunFailed
from heiti.flows.sources.windows import AudioWindowParams, Windower
from heiti.flows.stage import Item, Source

_CHUNK = 8192
_TOKEN_LINE = 1024  # longest first line read while looking for the token


class TcpAudioParams(AudioWindowParams):
    host: str = Field("127.0.0.1", description="address to listen on (default: loopback; any "
                      "other, e.g. 0.0.0.0, needs a token)")
    port: int = Field(ge=1, le=65535, description="TCP port to listen on")
    token: SecretStr | None = Field(None, description="shared secret the client sends as its "
                                    "first line (default: $HEITI_TOKEN)")
    accept_timeout_s: float = Field(60.0, gt=0, description="how long to wait for the client")
    read_timeout_s: float = Field(10.0, gt=0, le=3600, description="longest silence from the "
                                  "client: before its first audio it is dropped, later the "
                                  "flow ends with an error")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> TcpAudioParams:
        from heiti.core.addresses import is_loopback

        if self.secret() is None and not is_loopback(self.host):
            raise ValueError(f"host {self.host} is reachable from other machines, so a token is "
                             "required: set 'token' or the environment variable HEITI_TOKEN "
                             "(clients send it as their first line)")
        return self

    def secret(self) -> bytes | None:
        token = self.token.get_secret_value() if self.token else os.environ.get("HEITI_TOKEN")
        return token.encode() if token else None


class TcpAudio(Source):
    """Listens on HOST:PORT, takes one client and reads 16-bit little-endian mono PCM at
    ``sample_rate`` until the client closes; windows as in ``wav-stream``."""

    name = "tcp-audio"
    Params = TcpAudioParams

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._server: socket.socket | None = None

    @property
    def media_seconds_per_item(self) -> float:
        return self.params.hop_s

    def open(self) -> None:
        """Listen before the flow starts, so a client may connect as soon as the model is loaded."""
        if self._server is None:
            try:
                self._server = socket.create_server((self.params.host, self.params.port))
            except OSError as exc:
                raise RunFailed(f"cannot listen on {self.params.host}:{self.params.port}: {exc.strerror}",
                                hint="choose a free port") from None
            print(f"heiti: tcp-audio: listening on tcp://{self.params.host}:{self.params.port}",
                  file=sys.stderr, flush=True)

    def items(self) -> Iterator[Item]:
        self.open()
        connection, peer, data = self._client()
        windows = Windower(self.params, f"tcp:{peer[0]}:{peer[1]}")
        odd = b""  # a sample split across two reads
        with connection:
            while data:
                data, odd = odd + data, b""
                if len(data) % 2:
                    data, odd = data[:-1], data[-1:]
                yield from windows.feed(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)
                try:
                    data = connection.recv(_CHUNK)
                except TimeoutError:
                    yield from windows.finish()
                    raise RunFailed(f"tcp-audio: the client {windows.source} sent nothing for "
                                    f"{self.params.read_timeout_s:g} s; the stream ends here",
                                    hint="check the client's connection, or raise read_timeout_s"
                                    ) from None
        yield from windows.finish()

    def _client(self) -> tuple[socket.socket, tuple, bytes]:
        """The first client that sends audio (after the token, when one is set) in time, its
        address and its first bytes; others are dropped with a warning."""
        assert self._server is not None
        deadline = time.monotonic() + self.params.accept_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self._server.settimeout(left)
            try:
                connection, peer = self._server.accept()
            except TimeoutError:
                break
            connection.settimeout(self.params.read_timeout_s)
            try:
                first = self._admit(connection)
            except OSError as exc:  # a timeout, a wrong token, a reset connection
                reason = (f"sent nothing within {self.params.read_timeout_s:g} s"
                          if isinstance(exc, TimeoutError) else str(exc))
            else:
                if first:
                    return connection, peer, first
                reason = "closed without sending audio"
            connection.close()
            print(f"heiti: tcp-audio: dropped the client {peer[0]}:{peer[1]}: {reason}",
                  file=sys.stderr, flush=True)
        raise RunFailed(f"no client sent audio to {self.params.host}:{self.params.port} within "
                        f"{self.params.accept_timeout_s:g} s")

    def _admit(self, connection: socket.socket) -> bytes:
        """The client's first audio bytes, after checking its token line when one is set;
        the whole token line must arrive within read_timeout_s (a byte now and then does not
        keep a client waiting)."""
        token = self.params.secret()
        if token is None:
            return connection.recv(_CHUNK)
        deadline = time.monotonic() + self.params.read_timeout_s
        line = b""
        while b"\n" not in line and len(line) <= _TOKEN_LINE:
            if (left := deadline - time.monotonic()) <= 0:
                raise TimeoutError
            connection.settimeout(left)
            if not (part := connection.recv(_TOKEN_LINE)):
                break
            line += part
        given, _, rest = line.partition(b"\n")
        if not hmac.compare_digest(given.rstrip(b"\r"), token):
            raise PermissionError("no valid token line")
        connection.settimeout(self.params.read_timeout_s)
        return rest or connection.recv(_CHUNK)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
