"""A device reached over TCP, a serial line or a pipe, running ``heiti server``.

The host keeps the dataset and computes the metrics; the target loads the uploaded
artifact with the scenario's runtime and reports its own inference times, so the
measurements hold target-side latencies beside the host's round-trip times.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, SecretStr, model_validator

from heiti.core.artifact import Artifact
from heiti.core.component import Params
from heiti.core.steps import Runtime, Target
from heiti.errors import RunFailed


class RemoteParams(Params):
    protocol: Literal["tcp", "serial", "pipe"] = "tcp"
    host: str = Field("127.0.0.1", description="tcp: the server's address")
    port: int | str | None = Field(None, description="tcp: port number; serial: device path")
    baud: int = Field(115200, ge=1, description="serial: baud rate")
    command: list[str] | None = Field(
        None, min_length=1, description="pipe: the server command to start (default: this heiti's "
        "'heiti server --protocol pipe' with the scenario's runtime)")
    token: SecretStr | None = Field(None, description="shared secret for the server's HMAC "
                                    "challenge (default: the HEITI_TOKEN environment variable)")
    connect_timeout_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(30.0, gt=0, description="longest wait for any answer of the target")
    retransmits: int = Field(3, ge=0, description="serial: resends of a damaged frame before failing")
    pipeline: bool = Field(True, description="tcp and pipe: send each sample's request while the "
                           "target still runs the previous one, so the target never waits on the "
                           "link (host times become intervals between outputs; the target's own "
                           "inference times are unaffected); serial links always run in lockstep")

    @model_validator(mode="after")
    def _port_fits_protocol(self) -> RemoteParams:
        if self.protocol == "tcp" and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise ValueError("a tcp target needs 'port', a TCP port number")
        if self.protocol == "serial" and not isinstance(self.port, str):
            raise ValueError("a serial target needs 'port', a device path such as /dev/ttyUSB0")
        return self


class Remote(Target):
    """A target running 'heiti server', reached over TCP, serial or a pipe."""

    name = "remote"
    Params = RemoteParams
    requires = ()
    extra = "remote"
    runs_runtime_here = False  # the host needs no framework to evaluate a model remotely

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._environment: dict[str, Any] = {}

    @property
    def address(self) -> str:
        p = self.params
        if p.protocol == "tcp":
            return f"tcp://{p.host}:{p.port}"
        return f"serial://{p.port}@{p.baud}" if p.protocol == "serial" else "pipe"

    def open(self, runtime: Runtime, model: Artifact) -> Runtime:
        from heiti.protocols import messages as m
        from heiti.protocols.client import CHUNK, Client

        with self._failures("connecting"):
            channel = self._connect(runtime)
        client = Client(channel)
        with self._failures("setting up the session", client):
            client.hello(self._token())
            if model.sha256 and client.server.get("model_sha256") == model.sha256:
                loaded = {"versions": client.server.get("versions", {})}  # compiled into the firmware
            else:
                sidecar = model.model_dump(mode="json", exclude={"path"})
                loaded = client.upload(model.path, sidecar, runtime.describe(), self._chunk(CHUNK))
            client.request(m.MsgType.IOSPEC, m.pack_json(model.io.model_dump(mode="json", exclude_none=True)))
        return self.executor(client, runtime, model, loaded)

    def executor(self, *args: Any) -> RemoteExecutor:
        return RemoteExecutor(self, *args)

    @property
    def pipelines(self) -> bool:
        """Whether requests may be sent ahead: never on a serial line (a NAK names one frame)."""
        return self.params.pipeline and self.params.protocol != "serial"

    def _token(self) -> str | None:
        token = self.params.token.get_secret_value() if self.params.token else None
        return token or os.environ.get("HEITI_TOKEN")

    def _chunk(self, default: int) -> int:
        # on a serial line, chunks of about a second of line time keep every wait short
        return max(1024, self.params.baud // 10) if self.params.protocol == "serial" else default

    def environment(self) -> dict[str, Any]:
        return self._environment

    def _connect(self, runtime: Runtime) -> Any:
        from heiti.protocols.channel import Channel
        from heiti.protocols.transports import PipeTransport, SerialTransport, SocketTransport

        p = self.params
        if p.protocol == "tcp":
            transport = SocketTransport.connect(p.host, p.port, p.connect_timeout_s, p.timeout_s)
        elif p.protocol == "serial":
            with _missing_pyserial():
                transport = SerialTransport(p.port, p.baud, p.timeout_s)
        else:
            # our own child serves only us: its native code is the user's own
            native = ["--allow-native-code"] if runtime.executes_native_code else []
            command = p.command or [sys.executable, "-m", "heiti", "server", "--protocol", "pipe",
                                    "--runtime", runtime.name, *native]
            transport = PipeTransport.spawn(command, p.timeout_s)
        return Channel(transport, retransmits=p.retransmits)

    @contextlib.contextmanager
    def _failures(self, doing: str, client: Any = None) -> Iterator[None]:
        """Turn what can go wrong with a device into a failed run naming the target."""
        from heiti.protocols.client import RemoteError
        from heiti.protocols.framing import FrameError

        try:
            yield
        except (RemoteError, FrameError, TimeoutError, OSError) as exc:
            if client is not None:
                client.channel.close()
            raise self.failure(doing, exc) from None

    def failure(self, doing: str, exc: Exception) -> RunFailed:
        what = "no answer within the timeout" if isinstance(exc, TimeoutError) else str(exc)
        hint = ("is 'heiti server' running there and reachable?"
                if isinstance(exc, ConnectionError | TimeoutError) else None)
        return RunFailed(f"remote target {self.address}: {doing}: {what or type(exc).__name__}",
                         hint=hint)


@contextlib.contextmanager
def _missing_pyserial() -> Iterator[None]:
    try:
        yield
    except ModuleNotFoundError:
        from heiti.errors import MissingExtraError

        raise MissingExtraError("remote (serial)", "remote", "serial") from None


class RemoteExecutor(Runtime):
    """The runtime interface of the inference loop, executed by the target.

    ``prepare`` encodes DATA+PROCESS frames (untimed), ``infer`` sends them and waits
    for PROCESS_STARTED, PROCESS_DONE and OUTPUT (timed: the round trip), ``outputs``
    decodes the tensors (untimed).
    """

    name = "remote"

    def __init__(self, target: Remote, client: Any, runtime: Runtime, model: Artifact,
                 loaded: dict[str, Any]):
        from heiti.protocols import messages as m
        from heiti.protocols.client import RemoteError
        from heiti.protocols.framing import FrameError, encode

        self.target, self.client, self.channel = target, client, client.channel
        self._m = m
        self._encode = encode
        self._process = encode(m.MsgType.PROCESS, flags=m.FLAG_WITH_OUTPUT)
        self.io = model.io
        # DATA carries the inputs in the IO specification's order, in the wire's byte order
        self._dtypes = [np.dtype(spec.dtype).newbyteorder("<") for spec in model.io.inputs]
        self._float_outputs = [(index, spec) for index, spec in enumerate(model.io.outputs)
                               if np.dtype(spec.dtype).kind == "f"]
        self._headers: dict[tuple[tuple[int, ...], ...], bytes] = {}
        self._versions = loaded.get("versions", {})
        self._max_message = int(client.server.get("max_message", 2**32 - 1))
        self.target_latencies_ns: list[int] = []
        self.pipelined = target.pipelines
        self._sent_ahead: collections.deque[bytes] = collections.deque()
        self.target_statistics: dict[str, Any] | None = None
        self._broken = False
        self._link_errors = (RemoteError, FrameError, m.PayloadError, TimeoutError, OSError)

    def prepare(self, inputs: dict[str, np.ndarray]) -> bytes:
        m = self._m
        arrays = [np.ascontiguousarray(a, dtype=d)
                  for a, d in zip(self.ordered_inputs(inputs), self._dtypes, strict=True)]
        shapes = tuple(a.shape for a in arrays)
        headers = self._headers.get(shapes)
        if headers is None:
            headers = self._headers[shapes] = m.tensor_count(len(arrays)) + b"".join(
                m.tensor_header(d, s) for d, s in zip(self._dtypes, shapes, strict=True))
        if len(arrays) == 1:  # the common case: header and data, no per-tensor interleaving
            payload = headers + arrays[0].tobytes()
        else:
            payload = m.pack_tensors(arrays)
        frames = self._encode(m.MsgType.DATA, payload, m.FLAG_NO_ACK)
        if len(frames) > self._max_message:
            raise RunFailed(f"remote target {self.target.address}: a batch of {len(frames)} bytes "
                            f"exceeds the target's message limit of {self._max_message} bytes",
                            hint="use a smaller test.batch_size")
        return frames + self._process

    def send_ahead(self, prepared: bytes) -> None:
        try:
            self.channel.send_raw(prepared)
        except self._link_errors as exc:
            self._broken = True
            raise self.target.failure("inference", exc) from None
        self._sent_ahead.append(prepared)

    def infer(self, prepared: bytes) -> bytes:
        m = self._m
        try:  # (not a context manager: this runs once per sample)
            if self._sent_ahead and self._sent_ahead[0] is prepared:
                self._sent_ahead.popleft()
            else:
                self.channel.send_raw(prepared)
            # (a serial retransmission may have replaced the start ack by the end ack)
            done = self.client.expect(m.MsgType.PROCESS_STARTED, m.MsgType.PROCESS_DONE)
            if done.type == m.MsgType.PROCESS_STARTED:
                done = self.client.expect(m.MsgType.PROCESS_DONE)
            self.target_latencies_ns.append(m.unpack_ns(done.payload))
            return self.client.expect(m.MsgType.OUTPUT).payload
        except self._link_errors as exc:
            self._broken = True
            raise self.target.failure("inference", exc) from None
        except KeyboardInterrupt:  # the answer may never come: close without a goodbye
            self._broken = True
            raise

    def outputs(self, raw: bytes) -> dict[str, np.ndarray]:
        try:
            arrays = self._m.unpack_tensors(raw)
        except self._m.PayloadError as exc:
            raise self.target.failure("decoding outputs", exc) from None
        for index, spec in self._float_outputs:  # a float output must not arrive as integers
            if index < len(arrays) and arrays[index].dtype.kind != "f":
                raise self.target.failure("decoding outputs", ValueError(
                    f"OUTPUT '{spec.name}' holds {arrays[index].dtype.name} values, the IO "
                    f"specification says {spec.dtype}"))
        return self.named_outputs(arrays)

    def versions(self) -> dict[str, str]:
        return self._versions

    def close(self) -> None:
        try:
            if not self._broken:
                self._collect_statistics()
                with contextlib.suppress(*self._link_errors):
                    self.client.bye()
        finally:
            self.channel.close()

    def _collect_statistics(self) -> None:
        """The target's STATS: optional (a target gone after the last answer gives none),
        but when it answers, the answer must be what the protocol says."""
        try:
            stats = self.client.stats()
        except self._m.PayloadError as exc:  # not JSON, or not an object
            raise self.target.failure("reading STATS", exc) from None
        except self._link_errors:
            return
        environment = stats.pop("environment", {})
        if not isinstance(environment, dict):
            raise self.target.failure("reading STATS", ValueError(
                f"'environment' must be a JSON object, not {type(environment).__name__}"))
        self.target._environment, self.target_statistics = environment, stats

