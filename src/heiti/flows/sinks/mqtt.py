"""Results published to an MQTT broker with QoS 1 (topics and payloads in docs/flows.md)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from heiti.core.component import Params
from heiti.flows.sinks import STATISTICS_SCHEMA, records
from heiti.flows.stage import Item, Sink
from heiti.publish.mqtt import MqttPublisher, MqttUrl


class MqttSinkParams(Params):
    url: str = Field(pattern=r"^mqtt://[^/]+/[^#+]+$",
                     description="mqtt://HOST[:PORT]/TOPIC: results go to TOPIC, the flow's "
                     "statistics at the end to TOPIC/statistics")
    drain_timeout_s: float = Field(30.0, gt=0, description="at the end, how long to wait for the "
                                   "broker to acknowledge every message")


class Mqtt(Sink):
    """Each result as one JSON message (QoS 1) to an MQTT topic; messages published while the
    broker is away are sent when it is back, and the flow fails if any is never taken."""

    name = "mqtt"
    Params = MqttSinkParams
    requires = ("paho.mqtt",)
    extra = "mqtt"

    def open(self, flow_name: str) -> None:
        self.flow = flow_name
        self.publisher = MqttPublisher(MqttUrl.parse(self.params.url),
                                       drain_timeout_s=self.params.drain_timeout_s).open()

    def write(self, item: Item) -> None:
        for record in records(self.flow, item):
            self.publisher.publish(record)

    def close(self, statistics: dict[str, Any]) -> None:
        if statistics:
            self.publisher.publish({"schema": STATISTICS_SCHEMA, **statistics},
                                   topic=f"{self.publisher.url.topic}/statistics")
        self.publisher.close()
