"""The target side: one session per client, a state machine over the message types.

A session ends on BYE, when the client goes away, or on a protocol violation (after
an ERROR naming it); the server then serves the next client. Problems a client can
correct (a model that fails to load, inputs of the wrong shape) are answered with
ERROR and the session continues. What a framework or compiler says stays in the
server's log (it may quote server files); the client gets the error code, a generic
text and the incident number under which the log has the details (docs/security.md).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heiti import __version__
from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.framing import VERSION, Frame, FrameError, encode
from heiti.protocols.messages import ErrorCode, MsgType, PayloadError

STARTED = encode(MsgType.PROCESS_STARTED)
# what the model process answers to each request it serves (or ERROR)
ANSWERS: dict[int, int] = {MsgType.IOSPEC: MsgType.OK, MsgType.DATA: MsgType.OK,
           MsgType.PROCESS: MsgType.PROCESS_DONE, MsgType.OUTPUT: MsgType.OUTPUT,
           MsgType.STATS: MsgType.STATS}
# errors whose text comes from a framework: only its first clause reaches the client
FRAMEWORK_CODES = (ErrorCode.INFERENCE, ErrorCode.INTERNAL)
_incidents = itertools.count(1)


@dataclass
class ServerConfig:
    runtimes: list[str]                 # the runtimes clients may ask for; the first is the default
    token: str | None = None
    allow_native_code: bool = False
    max_upload: int = 64 * 2**20
    max_threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    idle_timeout: float = 60.0          # silence between frames, and the deadline of one frame
    handshake_timeout: float = 10.0     # from connecting to authenticated
    worker_timeout: float = 120.0       # longest a model process may take to answer (load, inference)
    log: Callable[[str], None] = field(default=lambda message: None)


class Refused(Exception):
    """Answer with ERROR; ``fatal`` ends the session (protocol violations). ``detail`` is
    logged on the server and never sent."""

    def __init__(self, code: int, text: str, fatal: bool = False, detail: str | None = None):
        if code in FRAMEWORK_CODES and detail is None:
            text, detail = text.split(":", 1)[0], text
        super().__init__(text)
        self.code, self.text, self.fatal, self.detail = code, text, fatal, detail


class Session:
    def __init__(self, channel: Channel, config: ServerConfig):
        self.channel, self.config = channel, config
        channel.frame_timeout = config.idle_timeout
        self.said_bye = False
        self.state = "hello"            # hello -> auth -> ready; uploading while a MODEL streams
        self.nonce = b""
        self.worker: Any = None         # the model process (worker.py), once a model is loaded
        self.held: list[bytes] = []     # DATA without ack, sent to the worker with the next request
        self.upload: dict[str, Any] | None = None
        self.workdir: Path | None = None  # made at the first upload: a handshake writes nothing
        self.latencies: list[int] = []
        self.started = (time.perf_counter(), _cpu_seconds())
        self.handlers: dict[int, Callable[[Frame], None]] = {
            MsgType.HELLO: self.hello, MsgType.AUTH: self.auth, MsgType.PING: self.ping,
            MsgType.MODEL_BEGIN: self.model_begin, MsgType.MODEL_CHUNK: self.model_chunk,
            MsgType.MODEL_END: self.model_end, MsgType.IOSPEC: self.forward,
            MsgType.DATA: self.forward, MsgType.PROCESS: self.forward,
            MsgType.OUTPUT: self.forward, MsgType.STATS: self.stats}

    def handshake(self) -> bool:
        """Serve HELLO (and AUTH) within the handshake timeout; True: the client may now be
        served, False: the session is over (closed)."""
        self.channel.deadline = time.monotonic() + self.config.handshake_timeout
        try:
            return self._serve(until_ready=True)
        finally:
            self.channel.deadline = None

    def run(self) -> None:
        self._serve(until_ready=False)

    def _serve(self, until_ready: bool) -> bool:
        ready = False
        try:
            while not (ready := until_ready and self.state == "ready"):
                frame = self.channel.recv()
                try:
                    if frame.type == MsgType.BYE:
                        self._check_state(frame.type)  # BYE too: not instead of AUTH
                        self.said_bye = True
                        self.channel.send(MsgType.OK)
                        break
                    self._dispatch(frame)
                except Refused as exc:
                    self._error(exc.code, exc.text, exc.detail)
                    if exc.fatal:
                        break
        except FrameError as exc:
            self._error(exc.code, str(exc))
        except (ConnectionError, TimeoutError) as exc:
            self.config.log(f"client gone: {exc or type(exc).__name__}")
        except OSError as exc:
            self.config.log(f"connection error: {exc}")
        finally:
            if not ready:  # also on SIGTERM (SystemExit): the uploaded files go
                self.close()
        return ready

    def _dispatch(self, frame: Frame) -> None:
        self._check_state(frame.type)
        handler = self.handlers.get(frame.type)
        if handler is None:
            raise Refused(ErrorCode.UNKNOWN_TYPE, f"unknown message type 0x{frame.type:02x}", fatal=True)
        try:
            handler(frame)
        except (Refused, OSError):  # OSError: the link itself failed; the session ends
            raise
        except PayloadError as exc:
            raise Refused(ErrorCode.BAD_FRAME, f"malformed {_name(frame.type)}: {exc}", fatal=True) from None
        except Exception as exc:  # a bug or a framework surprise must not take the server down
            raise Refused(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        if self.latencies:
            self.config.log(f"session ended: {len(self.latencies)} inferences, median "
                            f"{sorted(self.latencies)[len(self.latencies) // 2] / 1e3:.1f} µs")
        if self.upload is not None:  # the client left in the middle of an upload
            self.upload["file"].close()
        self._unload()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _error(self, code: int, text: str, detail: str | None = None) -> None:
        if detail is not None:
            incident = next(_incidents)
            self.config.log(f"incident {incident}: {detail}")
            text += f" (the server's log has the details: incident {incident})"
        self.config.log(f"ERROR {m.error_name(code)}: {text}")
        try:
            self.channel.send(MsgType.ERROR, m.pack_error(code, text))
        except OSError:
            pass  # the client is gone already

    def _check_state(self, msg_type: int) -> None:
        if self.state == "hello" and msg_type != MsgType.HELLO:
            raise Refused(ErrorCode.OUT_OF_ORDER, f"{_name(msg_type)} before HELLO", fatal=True)
        if self.state == "auth" and msg_type != MsgType.AUTH:
            raise Refused(ErrorCode.AUTH, "authentication required: send AUTH after HELLO", fatal=True)
        uploading = msg_type in (MsgType.MODEL_CHUNK, MsgType.MODEL_END)
        if (self.state == "uploading") != uploading:
            what = "during a model upload" if self.state == "uploading" else "without MODEL_BEGIN"
            raise Refused(ErrorCode.OUT_OF_ORDER, f"{_name(msg_type)} {what}", fatal=True)

    # --- connection set-up --------------------------------------------------------

    def hello(self, frame: Frame) -> None:
        if self.state != "hello":
            raise Refused(ErrorCode.OUT_OF_ORDER, "HELLO twice", fatal=True)
        versions = m.unpack_json(frame.payload).get("versions")
        if not isinstance(versions, list) or VERSION not in versions:
            raise Refused(ErrorCode.VERSION, f"no common protocol version: client offers "
                                             f"{_short(versions)}, server speaks [{VERSION}]", fatal=True)
        reply: dict[str, Any] = {
            "version": VERSION, "server": f"heiti {__version__}", "runtimes": self.config.runtimes,
            "max_message": self.channel.max_message, "max_upload": self.config.max_upload,
            "limits": {"threads": self.config.max_threads}, "auth": self.config.token is not None}
        if self.config.token is not None:
            self.nonce = os.urandom(32)
            reply["nonce"] = self.nonce.hex()
        self.state = "auth" if self.config.token is not None else "ready"
        self.channel.send(MsgType.HELLO, m.pack_json(reply))

    def auth(self, frame: Frame) -> None:
        if self.state != "auth":
            raise Refused(ErrorCode.OUT_OF_ORDER, "AUTH without a challenge", fatal=True)
        if self.config.token is None or not m.auth_ok(self.config.token, self.nonce, frame.payload):
            raise Refused(ErrorCode.AUTH, "authentication failed: wrong token", fatal=True)
        self.state = "ready"
        self.channel.send(MsgType.OK)

    def ping(self, frame: Frame) -> None:
        self.channel.send(MsgType.OK, frame.payload)

    # --- model upload -------------------------------------------------------------

    def model_begin(self, frame: Frame) -> None:
        info = m.unpack_json(frame.payload)
        size, digest = info.get("size"), info.get("sha256")
        if not isinstance(size, int) or size < 0 or not isinstance(digest, str):
            raise PayloadError("'size' (integer) and 'sha256' (hex string) are required")
        if not isinstance(info.get("sidecar") or {}, dict) or not isinstance(info.get("runtime") or {}, dict):
            raise PayloadError("'sidecar' and 'runtime' must be JSON objects")
        if size > self.config.max_upload:
            raise Refused(ErrorCode.TOO_LARGE, f"model of {size} bytes exceeds the server's upload "
                                               f"limit of {self.config.max_upload} bytes")
        if info.get("packing") not in (None, "tar"):
            raise Refused(ErrorCode.REFUSED, f"unknown packing {_short(info.get('packing'))} (known: tar)")
        runtime = self._runtime_for(info.get("runtime") or {"type": self.config.runtimes[0]})
        self._unload()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)  # the previous model's files
        self.workdir = Path(tempfile.mkdtemp(prefix="heiti-server-"))
        path = self.workdir / ("upload.tar" if info.get("packing") else
                               "model" + _safe_suffix(str(info.get("name", ""))))
        from heiti.protocols.worker import Worker

        self.upload = {"info": info, "runtime": runtime, "path": path, "file": open(path, "wb"),
                       "received": 0, "hash": hashlib.sha256(),
                       "worker": Worker(self.config.worker_timeout)}  # it starts meanwhile
        self.state = "uploading"
        self.channel.send(MsgType.OK)

    def _runtime_for(self, spec: dict[str, Any]) -> Any:
        """The runtime a client asks for, if this server may run it with those parameters:
        decided from the runtime itself and the operator's limits, before any byte is stored."""
        from heiti import registry
        from heiti.errors import HeitiError

        name, params = spec.get("type"), spec.get("parameters") or {}
        if name not in self.config.runtimes:
            raise Refused(ErrorCode.REFUSED, f"runtime {_short(name)} is not offered by this server "
                                             f"(offered: {', '.join(self.config.runtimes)})")
        if not isinstance(params, dict):
            raise PayloadError("'runtime.parameters' must be a JSON object")
        cls = registry.get("runtime", name)
        if cls.executes_native_code and not self.config.allow_native_code:
            raise Refused(ErrorCode.REFUSED, f"runtime '{name}' runs native code from the model it "
                                             "loads; this server was not started with --allow-native-code")
        # the default is what the server uses; a client repeating it (every describe() does) is fine
        fields = cls.Params.model_fields
        reserved = sorted(key for key in set(params) & set(cls.operator_parameters)
                          if params[key] != fields[key].default)
        if reserved:
            raise Refused(ErrorCode.REFUSED, f"runtime parameter {', '.join(reserved)} of '{name}' is "
                                             "chosen by the server's operator, not by clients")
        try:
            cls.check_available()
            runtime = cls(params)
        except HeitiError as exc:
            raise Refused(ErrorCode.REFUSED, str(exc)) from None
        except ValueError as exc:  # pydantic validation of the parameters
            raise Refused(ErrorCode.REFUSED, f"runtime parameters: {exc}") from None
        threads = getattr(runtime.params, "threads", None)
        # 0 leaves the choice to the runtime, which takes up to one thread per core
        if isinstance(threads, int) and (threads or os.cpu_count() or 1) > self.config.max_threads:
            meant = f"{threads} (one per core: {os.cpu_count()})" if threads == 0 else _short(threads)
            raise Refused(ErrorCode.REFUSED, f"runtime parameter threads={meant} is above this "
                                             f"server's limit of {self.config.max_threads} "
                                             "(heiti server --max-threads)")
        return runtime

    def model_chunk(self, frame: Frame) -> None:
        up = self.upload
        assert up is not None  # _check_state admits MODEL_CHUNK only while uploading
        up["received"] += len(frame.payload)
        if up["received"] > up["info"]["size"]:
            self._abort_upload()["worker"].kill()
            raise Refused(ErrorCode.TOO_LARGE, "more model bytes than announced", fatal=True)
        up["file"].write(frame.payload)
        up["hash"].update(frame.payload)
        self.channel.send(MsgType.OK)

    def model_end(self, frame: Frame) -> None:
        up = self._abort_upload()
        try:
            artifact = self._checked_upload(up)
            self._load(artifact, up)
        except BaseException:
            up["worker"].kill()
            raise

    def _checked_upload(self, up: dict[str, Any]) -> Any:
        """The uploaded model as an Artifact, once complete, unpacked and inspected."""
        info = up["info"]
        if up["received"] != info["size"] or up["hash"].hexdigest() != info["sha256"]:
            raise Refused(ErrorCode.BAD_FRAME, f"upload incomplete or corrupted: {up['received']} of "
                                               f"{info['size']} bytes, sha256 mismatch or not")
        from heiti.core.artifact import Artifact

        path = up["path"]
        if info.get("packing") == "tar":
            from heiti.protocols.packing import PackingError, unpack_tar

            path = up["path"].parent / ("model" + _safe_suffix(str(info.get("name", ""))))
            try:
                unpack_tar(up["path"], path, self.config.max_upload)
            except PackingError as exc:
                raise Refused(ErrorCode.REFUSED, "cannot unpack the model archive",
                              detail=str(exc)) from None
            up["path"].unlink()
        try:
            artifact = Artifact.model_validate({**(info.get("sidecar") or {}), "path": path})
        except ValueError as exc:
            raise Refused(ErrorCode.MODEL_LOAD, f"invalid model metadata: {exc}") from None
        self._check_native(artifact)
        runtime = up["runtime"]
        if artifact.format not in runtime.formats:
            raise Refused(ErrorCode.REFUSED, f"runtime '{runtime.name}' cannot run {artifact.format} "
                                             f"models (it runs {', '.join(runtime.formats)})")
        return artifact

    def _load(self, artifact: Any, up: dict[str, Any]) -> None:
        info, runtime = up["info"], up["runtime"]
        request = {"path": str(artifact.path), "sidecar": info.get("sidecar") or {},
                   "runtime": {"class": [type(runtime).__module__, type(runtime).__qualname__],
                               "parameters": (info.get("runtime") or {}).get("parameters") or {}}}
        self.worker, worker = None, up["worker"]  # in service once loaded
        loaded = self._ask(worker, encode(MsgType.MODEL_END, m.pack_json(request)),
                           ErrorCode.MODEL_LOAD, MsgType.OK)
        self.worker, self.latencies = worker, []
        self.config.log(f"model loaded: {artifact.format}, {info['size']} bytes, runtime "
                        f"{runtime.name}, process {worker.pid}")
        self.channel.send(MsgType.OK, loaded.payload)

    def _abort_upload(self) -> dict[str, Any]:
        up, self.upload, self.state = self.upload, None, "ready"
        assert up is not None  # only called while uploading
        up["file"].close()
        return up

    def _check_native(self, artifact: Any) -> None:
        """Defence in depth behind the runtime check: machine code in any uploaded file.
        The client's own ``native_code`` flag can only make this stricter."""
        if self.config.allow_native_code:
            return
        from heiti.protocols.native_code import Uninspectable, carries_native_code
        from heiti.protocols.packing import files_in

        try:
            native = artifact.provenance.details.get("native_code") is True or any(
                carries_native_code(file, self.config.max_upload) for file in files_in(artifact.path))
        except Uninspectable as exc:
            raise Refused(ErrorCode.REFUSED, f"{exc}; it cannot be checked for native code") from None
        if native:
            raise Refused(ErrorCode.REFUSED, "the model carries native code (a shared library, "
                                             "object file or executable); start the server with "
                                             "--allow-native-code to accept it")

    def _unload(self) -> None:
        for worker in (self.worker, self.upload["worker"] if self.upload else None):
            if worker is not None:
                worker.kill()
        self.worker, self.held = None, []

    # --- inference: in the model process -------------------------------------------

    def forward(self, frame: Frame) -> None:
        """IOSPEC, DATA, PROCESS, OUTPUT, STATS: answered by the model process. A DATA
        whose OK the client does not want travels with the next request (usually its
        PROCESS), so that a sample costs one exchange with the worker."""
        if self.worker is None:
            raise Refused(ErrorCode.OUT_OF_ORDER, f"{_name(frame.type)} before a model is loaded",
                          fatal=True)
        request = encode(frame.type, frame.payload, frame.flags)
        if frame.type == MsgType.DATA and frame.flags & m.FLAG_NO_ACK:
            self.held.append(request)
            return
        held, self.held = self.held, []
        reply = self._ask(self.worker, b"".join(held) + request, ErrorCode.INFERENCE, ANSWERS[frame.type])
        if reply.type != MsgType.PROCESS_DONE:
            self.channel.send(reply.type, reply.payload)
            return
        self.channel.send_raw(STARTED)  # (a serial link resends only the last write: DONE, OUTPUT)
        self.latencies.append(m.unpack_ns(reply.payload))
        answer = encode(MsgType.PROCESS_DONE, reply.payload)
        if frame.flags & m.FLAG_WITH_OUTPUT:
            out = self._ask(self.worker, None, ErrorCode.INFERENCE, MsgType.OUTPUT)
            answer += encode(MsgType.OUTPUT, out.payload)
        self.channel.send_raw(answer)

    def _ask(self, worker: Any, request: bytes | None, failing: int, expected: int) -> Frame:
        """Send ``request`` (None: already sent) to the model process and return its next
        answer. Its ERROR becomes ours; a crash, hang or unexpected answer ends the process
        and is reported as ``failing`` under an incident number, with the model unloaded."""
        from heiti.protocols.worker import WorkerLost

        try:
            if request is not None:
                worker.send(request)
            while (reply := worker.recv()).type == MsgType.ERROR:
                error = m.unpack_json(reply.payload)
                refusal = _refusal(error)
                if error.get("no_ack") is not True or refusal.fatal:
                    raise refusal
                self._error(refusal.code, refusal.text, refusal.detail)  # a DATA sent ahead
            if reply.type != expected:
                raise WorkerLost(f"model process {worker.pid} answered {_name(reply.type)}")
            return reply
        except (WorkerLost, PayloadError) as exc:
            worker.kill()
            self._unload()
            raise Refused(failing, "the model's process failed (the model is unloaded; upload it "
                                   "again)", detail=str(exc)) from None

    def stats(self, frame: Frame) -> None:
        if self.worker is not None:  # its inferences, its CPU time and memory, its frameworks
            self.forward(frame)
        else:
            self.channel.send(MsgType.STATS, m.pack_json(statistics([], self.started)))


def statistics(latencies: list[int], started: tuple[float, float]) -> dict[str, Any]:
    """STATS of this process since ``started`` (wall clock, CPU seconds)."""
    import psutil

    from heiti.pipeline.environment import host_environment
    from heiti.pipeline.inference import latency_statistics

    wall = time.perf_counter() - started[0]
    cpu = _cpu_seconds() - started[1]
    return {
        "inferences": len(latencies),
        "inference_ms": latency_statistics(np.asarray(latencies)) if latencies else None,
        "cpu_percent": round(100 * cpu / wall, 1) if wall > 0 else None,
        "rss_mb": round(psutil.Process().memory_info().rss / 2**20, 1),
        "environment": host_environment(),
    }


def _safe_suffix(name: str) -> str:
    suffix = Path(name).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,12}", suffix) else ""


def _short(value: Any) -> str:
    """A client's value quoted in a reply, cut short (it may be megabytes of JSON)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return f"type 0x{msg_type:02x}"


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _refusal(error: dict[str, Any]) -> Refused:
    """The model process's ERROR (JSON, see model_host.py) as ours."""
    code, text, detail = error.get("code"), error.get("text"), error.get("detail")
    if not isinstance(code, int) or not isinstance(text, str) or not isinstance(detail, str | None):
        raise PayloadError("the model process sent a malformed ERROR")
    return Refused(code, text, fatal=error.get("fatal") is True, detail=detail)
