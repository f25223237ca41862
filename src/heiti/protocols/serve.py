"""Serving loops on a TCP listener, a serial port or a pipe.

TCP: every connection gets its own thread for the handshake (HELLO, AUTH), bounded by
the handshake timeout, so a client that trickles bytes or never authenticates holds
only its own thread. Authenticated sessions are then served one at a time, in the
main thread and in the order they authenticated: runtimes set process-wide state
(thread pools) and timing one model beside another would measure neither.
"""

from __future__ import annotations

import os
import queue
import socket
import sys
import threading
import time

from heiti.protocols.channel import Channel
from heiti.protocols.server import ServerConfig, Session
from heiti.protocols.transports import PipeTransport, SerialTransport, SocketTransport

# connections accepted but not yet served (handshaking or authenticated and waiting);
# past this, new connections wait in the kernel's listen queue
MAX_PENDING = 32


def serve_tcp(config: ServerConfig, host: str, port: int, announce=print) -> None:
    with socket.create_server((host, port), reuse_port=False) as listener:
        bound = listener.getsockname()
        announce(f"listening on tcp://{bound[0]}:{bound[1]}")
        ready: queue.Queue[tuple[Session, socket.socket]] = queue.Queue()
        slots = threading.BoundedSemaphore(MAX_PENDING)
        threading.Thread(target=_accept, args=(listener, config, ready, slots), daemon=True,
                         name="accept").start()
        while True:
            session, sock = ready.get()
            try:
                session.run()
            finally:
                sock.close()
                slots.release()


def _accept(listener: socket.socket, config: ServerConfig, ready: queue.Queue,
            slots: threading.BoundedSemaphore) -> None:
    while True:
        slots.acquire()
        try:
            sock, peer = listener.accept()
        except OSError as exc:  # out of file descriptors, a connection reset while queued
            slots.release()
            config.log(f"accept failed: {exc}")
            time.sleep(0.1)
            continue
        threading.Thread(target=_handshake, args=(sock, peer, config, ready, slots),
                         daemon=True, name=f"handshake {peer[0]}:{peer[1]}").start()


def _handshake(sock: socket.socket, peer: tuple, config: ServerConfig, ready: queue.Queue,
               slots: threading.BoundedSemaphore) -> None:
    name = f"tcp://{peer[0]}:{peer[1]}"
    config.log(f"client {name} connected")
    try:
        session = Session(Channel(SocketTransport(sock, name, config.idle_timeout)), config)
        if session.handshake():
            ready.put((session, sock))
            return
    except OSError as exc:  # the socket failed before a session existed
        config.log(f"client {name}: {exc}")
    sock.close()
    slots.release()


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
