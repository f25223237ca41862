"""The model side of a `heiti server` session, run in a process of its own (worker.py
starts one per uploaded model): load the model, check inputs against the IO
specification, run inference.

Model files are parsed by native code (TFLM, ExecuTorch, ONNX Runtime, ...). A
hostile file may crash that code; here it takes down only this process, and the
server answers its client with ERROR and goes on serving.

The server speaks the protocol's framing to this process over a socket, one request at
a time, and every request gets exactly one answer: MODEL_END (JSON: path, sidecar,
runtime class and parameters) is answered OK with the runtime's description; IOSPEC and
DATA with OK (a DATA flagged NO_ACK: nothing); PROCESS with PROCESS_DONE (and OUTPUT
when flagged; the server sends PROCESS_STARTED); OUTPUT and STATS in kind. A refusal is
ERROR whose payload is JSON {code, text, fatal, detail, no_ack}: the server logs
``detail`` under an incident number and relays the rest; ``no_ack`` marks the answer to
a NO_ACK DATA, which the server tells from the answer to the request after it.
"""

from __future__ import annotations

import importlib
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.framing import Frame, encode
from heiti.protocols.messages import ErrorCode, MsgType, PayloadError
from heiti.protocols.server import Refused, statistics
from heiti.protocols.transports import SocketTransport
from heiti.protocols.worker import INTERNAL_MAX_MESSAGE


class ModelHost:
    def __init__(self, channel: Channel):
        self.channel = channel
        self.runtime: Any = None
        self.model: Any = None
        self.spec: Any = None             # the IOSpec inputs are checked against
        self.accepted: dict[tuple, bool] = {}  # input signatures already checked against it
        self.buffers: dict[tuple, Any] = {}     # one input buffer per shape, reused
        self.prepared: Any = None
        self.last_outputs = b""
        self.latencies: list[int] = []
        self.started = (time.perf_counter(), 0.0)  # reset when the model is loaded
        self.handlers: dict[int, Callable[[Frame], None]] = {
            MsgType.MODEL_END: self.load, MsgType.IOSPEC: self.iospec, MsgType.DATA: self.data,
            MsgType.PROCESS: self.process, MsgType.OUTPUT: self.output, MsgType.STATS: self.stats}

    def serve(self) -> None:
        """Until the server closes the socket (the session ended or a new model came)."""
        while True:
            try:
                frame = self.channel.recv()
            except ConnectionError:
                return
            try:
                handler = self.handlers.get(frame.type)
                if handler is None:
                    raise Refused(ErrorCode.INTERNAL, f"the model process got message type {frame.type}")
                handler(frame)
            except Refused as exc:
                self._refuse(exc, frame)
            except PayloadError as exc:
                self._refuse(Refused(ErrorCode.BAD_FRAME, f"malformed {MsgType(frame.type).name}: {exc}",
                                     fatal=True), frame)
            except Exception as exc:  # a bug or a framework surprise: the session goes on
                self._refuse(Refused(ErrorCode.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"),
                             frame)

    def _refuse(self, exc: Refused, frame: Frame) -> None:
        no_ack = frame.type == MsgType.DATA and bool(frame.flags & m.FLAG_NO_ACK)
        self.channel.send(MsgType.ERROR, m.pack_json({"code": int(exc.code), "text": exc.text,
                                                      "fatal": exc.fatal, "detail": exc.detail,
                                                      "no_ack": no_ack}))

    def load(self, frame: Frame) -> None:
        from heiti.core.artifact import Artifact
        from heiti.errors import InputError

        request = m.unpack_json(frame.payload)
        artifact = Artifact.model_validate({**request["sidecar"], "path": request["path"]})
        # the class the server chose, from its module (imported by the fork server already)
        module, name = request["runtime"]["class"]
        runtime = getattr(importlib.import_module(module), name)(request["runtime"]["parameters"])
        try:
            runtime.load(artifact)
        except InputError as exc:  # heiti's own check of the model (a missing sidecar field)
            raise Refused(ErrorCode.MODEL_LOAD, f"the runtime could not load the model: "
                                                f"{exc.message}") from None
        except Exception as exc:  # a framework or compiler: its words may quote server files
            raise Refused(ErrorCode.MODEL_LOAD, f"the runtime could not load the model "
                                                f"({type(exc).__name__})",
                          detail=f"{type(exc).__name__}: {exc}") from None
        self.runtime, self.model = runtime, artifact
        times = os.times()
        self.started = (time.perf_counter(), times.user + times.system)
        self.channel.send(MsgType.OK, m.pack_json({"runtime": runtime.describe(),
                                                   "versions": runtime.versions()}))

    def iospec(self, frame: Frame) -> None:
        from pydantic import ValidationError

        from heiti.core.iospec import IOSpec

        try:
            self.spec = IOSpec.model_validate(m.unpack_json(frame.payload))
            self.accepted = {}
        except ValidationError as exc:
            raise PayloadError(str(exc)) from None
        self.channel.send(MsgType.OK)

    def data(self, frame: Frame) -> None:
        if self.spec is None:
            raise Refused(ErrorCode.OUT_OF_ORDER, "DATA before MODEL and IOSPEC", fatal=True)
        arrays = m.unpack_tensors(frame.payload)
        self.prepared = None
        if not self._fits_spec(arrays):
            expected = self.spec.inputs
            raise Refused(ErrorCode.BAD_INPUT, "inputs do not match the IO specification: expected "
                          f"{'; '.join(s.describe() for s in expected)}, received "
                          f"{m.describe_tensors(arrays)}")
        # copied into buffers of our own: frameworks run markedly slower on the unaligned,
        # read-only views that point into the received payload
        inputs = {}
        for spec, array in zip(self.spec.inputs, arrays, strict=True):
            key = (spec.name, array.dtype, array.shape)
            buffer = self.buffers.get(key)
            if buffer is None:
                buffer = self.buffers[key] = np.empty_like(array)
            np.copyto(buffer, array)
            inputs[spec.name] = buffer
        self.prepared = self.runtime.prepare(inputs)
        if not frame.flags & m.FLAG_NO_ACK:
            self.channel.send(MsgType.OK)

    def _fits_spec(self, arrays: list[Any]) -> bool:
        key = tuple((a.dtype, a.shape) for a in arrays)  # checked once per distinct signature
        fits = self.accepted.get(key)
        if fits is None:
            expected = self.spec.inputs
            fits = self.accepted[key] = len(arrays) == len(expected) and all(
                s.matches(a.shape, a.dtype.name) for s, a in zip(expected, arrays, strict=False))
        return fits

    def process(self, frame: Frame) -> None:
        if self.prepared is None:
            raise Refused(ErrorCode.OUT_OF_ORDER, "PROCESS before DATA (or after rejected DATA)")
        clock = time.perf_counter_ns
        start = clock()
        try:
            raw = self.runtime.infer(self.prepared)
            elapsed = clock() - start
            outputs = self.runtime.outputs(raw)
            self.last_outputs = m.pack_tensors([outputs[spec.name] for spec in self.spec.outputs])
        except Exception as exc:  # the framework failed on this input
            raise Refused(ErrorCode.INFERENCE, f"inference failed: {type(exc).__name__}: {exc}") from None
        self.latencies.append(elapsed)
        reply = encode(MsgType.PROCESS_DONE, m.pack_ns(elapsed))
        if frame.flags & m.FLAG_WITH_OUTPUT:
            reply += encode(MsgType.OUTPUT, self.last_outputs)
        self.channel.send_raw(reply)

    def output(self, frame: Frame) -> None:
        if not self.last_outputs:
            raise Refused(ErrorCode.OUT_OF_ORDER, "OUTPUT before PROCESS", fatal=True)
        self.channel.send(MsgType.OUTPUT, self.last_outputs)

    def stats(self, frame: Frame) -> None:
        self.channel.send(MsgType.STATS, m.pack_json(statistics(self.latencies, self.started)))


def main(sock: socket.socket) -> None:
    """A model process's life (worker.py starts it): serve the server on ``sock``."""
    os.dup2(2, 1)  # what a framework prints goes to the log, never into a pipe server's stream
    ModelHost(Channel(SocketTransport(sock, "server", None), INTERNAL_MAX_MESSAGE)).serve()
