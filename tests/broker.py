"""A real mosquitto broker for tests, on a free port, that a test can stop and restart.

Persistence is on, as in a deployment that must not lose messages: a subscriber with a
persistent session (clean_session false, QoS 1) gets what was published while it was
away, including across a broker restart.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists()
                                          else None)
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """``users``: name -> password; with users, anonymous clients are refused."""

    def __init__(self, folder: Path, users: dict[str, str] | None = None):
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.config = folder / "mosquitto.conf"
        access = "allow_anonymous true\n"
        if users:
            passwords = folder / "passwords"
            passwords.touch(mode=0o600)
            for name, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(passwords), name, password], check=True,
                               capture_output=True)
            access = f"allow_anonymous false\npassword_file {passwords}\n"
        self.config.write_text(f"listener {self.port} 127.0.0.1\n{access}"
                               f"persistence true\npersistence_location {folder}/\n"
                               f"user {getpass.getuser()}\n")

    def url(self, topic: str) -> str:
        return f"mqtt://127.0.0.1:{self.port}/{topic}"

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=(self.folder / "mosquitto.log").open("a"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {(self.folder / 'mosquitto.log').read_text()}")

    def stop(self) -> None:
        """Terminate (the broker saves its sessions and queued messages) and wait."""
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


class Subscriber:
    """Collects JSON payloads on a topic with a persistent QoS 1 session."""

    def __init__(self, broker: Broker, topic: str, client_id: str = "heiti-test-subscriber",
                 user: tuple[str, str] | None = None):
        from paho.mqtt import client as mqtt

        self.messages: list[tuple[str, Any]] = []
        self._changed = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        if user:
            self.client.username_pw_set(*user)
        self.client.reconnect_delay_set(1, 2)
        # ready only once the broker acknowledged the subscription: a message published
        # before that would not be delivered (seen under load as the first messages lost)
        self._subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda c, u, mid, codes, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        if not self._subscribed.wait(30):
            self.close()
            raise RuntimeError(f"the broker did not acknowledge the subscription to {topic}")

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self._changed:
            self.messages.append((message.topic, json.loads(message.payload)))
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0,
                 key: Callable[[tuple[str, Any]], Any] | None = None) -> list[tuple[str, Any]]:
        """All messages once ``count`` have arrived, or at the timeout. With ``key``, count
        distinct keys: QoS 1 may deliver a message twice, above all around a broker restart."""
        deadline = time.monotonic() + timeout

        def arrived() -> int:
            return len({key(m) for m in self.messages}) if key else len(self.messages)

        with self._changed:
            while arrived() < count and time.monotonic() < deadline:
                self._changed.wait(0.1)
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
