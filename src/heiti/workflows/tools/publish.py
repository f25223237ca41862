"""Publish: an evaluation's measurements summary to an MQTT broker."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from heiti.core.component import Params
from heiti.core.files import write_json
from heiti.pipeline.measurements import load_measurements
from heiti.workflows.tool import Tool, ToolContext

RECEIPT = "published.json"


class PublishParams(Params):
    to: str = Field(pattern=r"^mqtt://[^/]+/[^#+]+$", description="mqtt://HOST[:PORT]/TOPIC")


class Publish(Tool):
    """Sends the summary of the "measurements" input (an evaluate step) with QoS 1, as
    report.publish does; runs again only when the measurements change."""

    name = "publish"
    Params = PublishParams
    required_inputs = ("measurements",)
    requires = ("paho.mqtt",)
    extra = "mqtt"

    def run(self, inputs: dict[str, Path], output: Path, ctx: ToolContext) -> None:
        from heiti.pipeline.run import MEASUREMENTS_FILE
        from heiti.publish.summary import publish_summary, run_summary

        path = inputs["measurements"] / MEASUREMENTS_FILE
        document = load_measurements(path)
        publish_summary(self.params.to, document, path)
        write_json(output / RECEIPT, {"to": self.params.to, "summary": run_summary(document, path)})
