"""Serving loops: one session after another on a TCP listener, a serial port or a pipe."""

from __future__ import annotations

import os
import socket
import sys

from heiti.protocols.channel import Channel
from heiti.protocols.server import ServerConfig, Session
from heiti.protocols.transports import PipeTransport, SerialTransport, SocketTransport


def serve_tcp(config: ServerConfig, host: str, port: int, idle_timeout: float,
              announce=print) -> None:
    with socket.create_server((host, port), reuse_port=False) as listener:
        bound = listener.getsockname()
        announce(f"listening on tcp://{bound[0]}:{bound[1]}")
        while True:
            sock, peer = listener.accept()
            config.log(f"client {peer[0]}:{peer[1]} connected")
            Session(Channel(SocketTransport(sock, f"tcp://{peer[0]}:{peer[1]}", idle_timeout)),
                    config).run()
            sock.close()


def serve_serial(config: ServerConfig, port: str, baud: int, idle_timeout: float,
                 announce=print) -> None:
    """A serial line has no connections: after a session ends, wait for the next HELLO."""
    channel = Channel(SerialTransport(port, baud, idle_timeout))
    announce(f"listening on {channel.name}")
    while True:
        session = Session(channel, config)
        session.run()
        if not session.said_bye:  # what follows an error may be the rest of a bad frame
            channel.transport.discard_input()


def serve_pipe(config: ServerConfig, idle_timeout: float) -> None:
    """One session on our own stdin/stdout. Anything else that prints to stdout (a
    framework's banner) would corrupt the stream, so fd 1 is moved aside first."""
    out = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    Session(Channel(PipeTransport(0, out, "pipe://stdio", idle_timeout)), config).run()
