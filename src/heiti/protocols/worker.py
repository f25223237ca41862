"""The server's handle on a model process (model_host.py): a fresh one for each model
upload, killed when the session ends or the next model comes, and watched: a
process that dies or stops answering is reported as ``WorkerLost`` with the reason
for the server's log (the signal, the exit status or the timeout).

Model processes are forked by multiprocessing's fork server, which has imported
heiti and the server's runtimes once: a new process costs milliseconds, not the
seconds of starting Python and a framework, and shares nothing with the server but
what the fork server imported before any model was seen."""

from __future__ import annotations

import multiprocessing
import multiprocessing.forkserver
import signal
import socket
from typing import Any

from heiti.protocols.channel import Channel
from heiti.protocols.framing import Frame, FrameError
from heiti.protocols.transports import SocketTransport

INTERNAL_MAX_MESSAGE = 2**30  # what the model process may answer (it is bounded by RLIMIT_DATA)


class WorkerLost(Exception):
    """The model process crashed, exited or hung; the text is for the server's log only."""


def start(runtimes: list[str]) -> None:
    """Start the fork server with the modules of ``runtimes`` imported (a server calls this
    when it starts, after setting its memory limit, which model processes inherit)."""
    from heiti import registry

    classes = [registry.get("runtime", name) for name in runtimes]
    # a runtime's ``preload``: modules its load() imports that take seconds (torch and co.)
    modules = [module for cls in classes
               for module in (cls.__module__, *cls.requires, *getattr(cls, "preload", ()))]
    multiprocessing.forkserver.set_forkserver_preload(
        ["heiti.protocols.model_host", "heiti.core.artifact", "heiti.core.iospec", *modules])
    multiprocessing.forkserver.ensure_running()


class Worker:
    def __init__(self, timeout: float):
        from heiti.protocols import model_host

        ours, theirs = socket.socketpair()
        try:
            context = multiprocessing.get_context("forkserver")
            # daemon: ended with the server, however it ends
            self.process: Any = context.Process(target=model_host.main, args=(theirs,), daemon=True,
                                                name="heiti model")
            self.process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.timeout = timeout
        self.channel = Channel(SocketTransport(ours, "model process", timeout), INTERNAL_MAX_MESSAGE)

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, frames: bytes) -> None:
        try:
            self.channel.send_raw(frames)
        except OSError as exc:  # BrokenPipe, reset: it is gone
            raise self._lost(exc) from None

    def recv(self) -> Frame:
        try:
            return self.channel.recv()
        except (OSError, FrameError) as exc:  # TimeoutError and ConnectionError are OSErrors
            raise self._lost(exc) from None

    def _lost(self, exc: Exception) -> WorkerLost:
        hung = isinstance(exc, TimeoutError)
        if not hung:
            self.process.join(5)  # it closed its end: it is exiting
        self.kill()
        status = self.process.exitcode
        if hung:
            why = f"did not answer within {self.timeout:g} s (killed)"
        elif status is not None and status < 0:
            why = f"was killed by {_signal_name(-status)}"
        elif isinstance(exc, ConnectionError):
            why = f"exited with status {status}"
        else:
            why = f"broke the link ({type(exc).__name__}: {exc}; exit status {status})"
        return WorkerLost(f"model process {self.pid} {why}")

    def kill(self) -> None:
        if self.process.exitcode is None:
            self.process.kill()
            self.process.join()
        self.channel.close()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
