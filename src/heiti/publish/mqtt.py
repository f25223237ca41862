"""An MQTT publisher with paho-mqtt: QoS 1, every message kept until the broker acknowledges it.

A broker that wants a user name and password gets them from the URL
(``mqtt://USER:PASSWORD@HOST/TOPIC``, percent-encoded) or from $HEITI_MQTT_USERNAME and
$HEITI_MQTT_PASSWORD; messages show the user name, never the password.

A broker that cannot be reached when the publisher opens is an error (``RunFailed``). A
broker that goes away later is reconnected to in the background; messages published
meanwhile wait in paho's queue and, like those in flight when the connection dropped,
are (re)sent after the reconnect. ``close`` waits until every message is acknowledged,
so nothing is lost silently: what the broker never took is reported as an error.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from heiti.errors import InputError, MissingExtraError, RunFailed

QOS = 1
DEFAULT_PORT = 1883
# credentials for brokers that want them, when the URL does not carry them
USERNAME_VARIABLE, PASSWORD_VARIABLE = "HEITI_MQTT_USERNAME", "HEITI_MQTT_PASSWORD"


@dataclass(frozen=True)
class MqttUrl:
    host: str
    port: int
    topic: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, text: str) -> MqttUrl:
        """``mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC`` (the topic may have levels:
        ``heiti/runs``); a user name or password the URL leaves out comes from
        $HEITI_MQTT_USERNAME / $HEITI_MQTT_PASSWORD."""
        parts = urlsplit(text)
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            port = -1
        topic = parts.path.lstrip("/")
        if parts.scheme != "mqtt" or not parts.hostname or port <= 0 or not topic or "#" in topic \
                or "+" in topic:
            raise InputError(f"'{redact(text)}' is not an MQTT address",
                             hint="write mqtt://[USER[:PASSWORD]@]HOST[:PORT]/TOPIC, e.g. "
                                  "mqtt://localhost:1883/heiti/runs")
        username = unquote(parts.username or "") or os.environ.get(USERNAME_VARIABLE) or None
        password = (unquote(parts.password) if parts.password is not None
                    else os.environ.get(PASSWORD_VARIABLE))
        if password is not None and username is None:
            raise InputError(f"'{redact(text)}': a password without a user name",
                             hint=f"put the user name in the URL (mqtt://USER@HOST/TOPIC) or in "
                                  f"${USERNAME_VARIABLE}")
        return cls(parts.hostname, port, topic, username, password)

    def __str__(self) -> str:
        """The address as shown in messages: the user name, never the password."""
        user = f"{quote(self.username, safe='')}@" if self.username else ""
        return f"mqtt://{user}{self.host}:{self.port}/{self.topic}"


def redact(url: str) -> str:
    """``url`` with the password of its user information, if any, replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    userinfo, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{host}{slash}{path}"


class MqttPublisher:
    """Publish JSON payloads with QoS 1; use as a context manager or ``open``/``close``."""

    def __init__(self, url: MqttUrl | str, connect_timeout_s: float = 5.0,
                 drain_timeout_s: float = 30.0, client_id: str = ""):
        self.url = url if isinstance(url, MqttUrl) else MqttUrl.parse(url)
        self.connect_timeout_s = connect_timeout_s
        self.drain_timeout_s = drain_timeout_s
        self.client_id = client_id
        self.published = 0
        self.reconnects = 0
        self._pending: set[int] = set()
        self._acked_early: set[int] = set()  # acknowledged before publish() recorded the mid
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._client: Any = None

    def open(self) -> MqttPublisher:
        try:
            from paho.mqtt import client as mqtt
        except ImportError:
            raise MissingExtraError("mqtt publishing", "mqtt", "paho.mqtt") from None
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        client.max_queued_messages_set(0)  # unbounded: callers bound what they hand over
        client.reconnect_delay_set(min_delay=1, max_delay=4)
        client.on_connect = self._on_connect
        if self.url.username is not None:
            client.username_pw_set(self.url.username, self.url.password)
        client.on_publish = self._on_publish
        try:
            client.connect(self.url.host, self.url.port, keepalive=30)
        except OSError as exc:
            raise RunFailed(f"cannot reach the MQTT broker at {self.url.host}:{self.url.port}: "
                            f"{exc.strerror or exc}",
                            hint="start the broker or correct the address") from None
        client.loop_start()
        self._client = client
        if not self._connected.wait(self.connect_timeout_s) or self._refused:
            self._stop()
            raise RunFailed(f"the MQTT broker at {self.url.host}:{self.url.port} did not accept the "
                            f"connection{self._as_user()}: {self._refused or 'no answer'}",
                            hint="check the broker's address and its access settings; a user "
                                 "name and password go in the URL (mqtt://USER:PASSWORD@HOST/TOPIC) "
                                 f"or in ${USERNAME_VARIABLE} and ${PASSWORD_VARIABLE}")
        return self

    def _as_user(self) -> str:
        if self.url.username is None:
            return " (no user name given)"
        return f" as user '{self.url.username}'" + (" with a password" if self.url.password else "")

    def publish(self, payload: dict[str, Any], topic: str | None = None) -> None:
        data = json.dumps(payload, separators=(",", ":"), default=_plain)
        info = self._client.publish(topic or self.url.topic, data, qos=QOS)
        if info.rc not in (0, 4):  # 4 (no connection): queued, sent after the reconnect
            raise RunFailed(f"MQTT publish to {self.url} failed with code {info.rc}")
        with self._lock:
            if info.mid in self._acked_early:
                self._acked_early.discard(info.mid)
            else:
                self._pending.add(info.mid)
        self.published += 1

    @property
    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self) -> None:
        """Wait for the broker to acknowledge every message, then disconnect."""
        if self._client is None:
            return
        deadline = time.monotonic() + self.drain_timeout_s
        with self._lock:
            while self._pending and time.monotonic() < deadline:
                self._lock.wait(0.1)
            lost = len(self._pending)
        self._stop()
        if lost:
            raise RunFailed(f"{lost} of {self.published} messages to {self.url} were not acknowledged "
                            f"by the broker within {self.drain_timeout_s:g} s",
                            hint="is the broker running and reachable?")

    def _stop(self) -> None:
        client, self._client = self._client, None
        client.disconnect()
        client.loop_stop()

    def __enter__(self) -> MqttPublisher:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        elif self._client is not None:
            self._stop()

    # paho's network thread calls these
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        elif self._connected.is_set():
            self.reconnects += 1
        self._connected.set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._lock:
            if mid in self._pending:
                self._pending.discard(mid)
                self._lock.notify_all()
            else:
                self._acked_early.add(mid)


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)
