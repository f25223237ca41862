"""Raw audio from a TCP client (a microphone on a device, ``arecord | nc``), cut into windows."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import numpy as np
from pydantic import Field

from heiti.errors import RunFailed
from heiti.flows.sources.windows import AudioWindowParams, Windower
from heiti.flows.stage import Item, Source

_CHUNK = 8192


class TcpAudioParams(AudioWindowParams):
    host: str = Field("127.0.0.1", description="address to listen on (0.0.0.0: every interface)")
    port: int = Field(ge=1, le=65535, description="TCP port to listen on")
    accept_timeout_s: float = Field(60.0, gt=0, description="how long to wait for the client")


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

    def items(self) -> Iterator[Item]:
        self.open()
        self._server.settimeout(self.params.accept_timeout_s)
        try:
            connection, peer = self._server.accept()
        except TimeoutError:
            raise RunFailed(f"no client connected to {self.params.host}:{self.params.port} within "
                            f"{self.params.accept_timeout_s:g} s") from None
        windows = Windower(self.params, f"tcp:{peer[0]}:{peer[1]}")
        odd = b""  # a sample split across two reads
        with connection:
            while data := connection.recv(_CHUNK):
                data, odd = odd + data, b""
                if len(data) % 2:
                    data, odd = data[:-1], data[-1:]
                yield from windows.feed(np.frombuffer(data, "<i2").astype(np.float32) / 32768.0)
        yield from windows.finish()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
