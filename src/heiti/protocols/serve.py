"""Serving loops on a TCP listener, a serial port or a pipe.

TCP: every connection gets its own thread for the handshake (HELLO, AUTH), bounded by
the handshake timeout, so a client that trickles bytes or never authenticates holds
only its own thread. Authenticated sessions are then served one at a time, in the
main thread and in the order they authenticated: runtimes set process-wide state
(thread pools) and timing one model beside another would measure neither.

Connection slots: at most MAX_HANDSHAKING connections handshake at once, at most
MAX_HANDSHAKING_PER_ADDRESS of them from one address. A connection arriving beyond
either cap takes the place of the oldest one that has sent nothing (else the oldest),
so that idle connections, however many, cannot keep a client that talks from being
served. Authenticated sessions wait in their own MAX_WAITING places, which
handshaking connections never take.
"""

from __future__ import annotations

import os
import queue
import select
import socket
import sys
import threading
import time

from heiti.protocols import messages as m
from heiti.protocols.channel import Channel
from heiti.protocols.framing import encode
from heiti.protocols.messages import ErrorCode, MsgType
from heiti.protocols.server import ServerConfig, Session
from heiti.protocols.transports import PipeTransport, SerialTransport, SocketTransport

MAX_HANDSHAKING = 8
MAX_HANDSHAKING_PER_ADDRESS = 4
MAX_WAITING = 24  # authenticated sessions in line to be served
BUSY = encode(MsgType.ERROR, m.pack_error(ErrorCode.REFUSED, f"the server is busy: {MAX_WAITING} "
                                                             "sessions are waiting; try again later"))


class Handshakes:
    """The connections handshaking now, oldest first, by address."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[socket.socket, str] = {}  # insertion order: age

    def admit(self, sock: socket.socket, address: str) -> socket.socket | None:
        """Count ``sock`` in; return the connection it displaces, if a cap is reached."""
        with self._lock:
            same = [s for s, a in self._pending.items() if a == address]
            full = (same if len(same) >= MAX_HANDSHAKING_PER_ADDRESS else
                    list(self._pending) if len(self._pending) >= MAX_HANDSHAKING else [])
            victim = _quietest(full) if full else None
            if victim is not None:
                del self._pending[victim]
            self._pending[sock] = address
            return victim

    def leave(self, sock: socket.socket) -> None:
        with self._lock:
            self._pending.pop(sock, None)


def _quietest(socks: list[socket.socket]) -> socket.socket:
    """The oldest connection with no bytes waiting (a client that talks gets its handshake
    done in milliseconds), else the oldest."""
    try:
        talking = set(select.select(socks, [], [], 0)[0])
    except (OSError, ValueError):  # a socket closed meanwhile
        talking = set()
    return next((s for s in socks if s not in talking), socks[0])


def serve_tcp(config: ServerConfig, host: str, port: int, announce=print) -> None:
    with socket.create_server((host, port), reuse_port=False, backlog=128) as listener:
        bound = listener.getsockname()
        announce(f"listening on tcp://{bound[0]}:{bound[1]}")
        ready: queue.Queue[tuple[Session, socket.socket]] = queue.Queue()
        waiting = threading.BoundedSemaphore(MAX_WAITING)
        threading.Thread(target=_accept, args=(listener, config, ready, waiting), daemon=True,
                         name="accept").start()
        while True:
            session, sock = ready.get()
            try:
                session.run()
            finally:
                sock.close()
                waiting.release()


def _accept(listener: socket.socket, config: ServerConfig, ready: queue.Queue,
            waiting: threading.BoundedSemaphore) -> None:
    handshakes = Handshakes()
    while True:
        try:
            sock, peer = listener.accept()
        except OSError as exc:  # out of file descriptors, a connection reset while queued
            config.log(f"accept failed: {exc}")
            time.sleep(0.1)
            continue
        displaced = handshakes.admit(sock, peer[0])
        if displaced is not None:  # its handshake thread sees the end of stream and closes it
            try:
                displaced.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        threading.Thread(target=_handshake, args=(sock, peer, config, ready, waiting, handshakes),
                         daemon=True, name=f"handshake {peer[0]}:{peer[1]}").start()


def _handshake(sock: socket.socket, peer: tuple, config: ServerConfig, ready: queue.Queue,
               waiting: threading.BoundedSemaphore, handshakes: Handshakes) -> None:
    name = f"tcp://{peer[0]}:{peer[1]}"
    config.log(f"client {name} connected")
    try:
        session = Session(Channel(SocketTransport(sock, name, config.idle_timeout)), config)
        if session.handshake():
            if waiting.acquire(blocking=False):
                ready.put((session, sock))
                return
            config.log(f"client {name}: refused, {MAX_WAITING} sessions are waiting")
            session.channel.send_raw(BUSY)
    except OSError as exc:  # the socket failed before a session existed
        config.log(f"client {name}: {exc}")
    finally:
        handshakes.leave(sock)
    sock.close()


def serve_serial(config: ServerConfig, port: str, baud: int, announce=print) -> None:
    """A serial line has no connections and one peer: after a session ends, wait for the
    next HELLO. (The handshake deadline is a TCP matter: nobody else can be waiting.)"""
    channel = Channel(SerialTransport(port, baud, config.idle_timeout))
    announce(f"listening on {channel.name}")
    while True:
        session = Session(channel, config)
        session.run()
        if not session.said_bye:  # what follows an error may be the rest of a bad frame
            channel.transport.discard_input()


def serve_pipe(config: ServerConfig) -> None:
    """One session on our own stdin/stdout. Anything else that prints to stdout (a
    framework's banner) would corrupt the stream, so fd 1 is moved aside first."""
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    Session(Channel(PipeTransport(0, out, "pipe://stdio", config.idle_timeout)), config).run()
