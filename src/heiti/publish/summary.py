"""The summary of a ``heiti run`` published to ``report.publish`` (schema in docs/flows.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.pipeline.measurements import Measurements
from heiti.publish.mqtt import MqttPublisher

SCHEMA = "heiti/run-summary/1"


def run_summary(document: Measurements, path: Path) -> dict[str, Any]:
    quality, performance = document.quality, document.performance
    latency = performance.latency_ms
    return {
        "schema": SCHEMA,
        "name": document.name,
        "created": document.created,
        "task": quality.task,
        "primary_metric": quality.primary_metric,
        "primary": quality.primary,
        "metrics": quality.metrics,
        "samples": quality.samples,
        "latency_ms": {"p50": latency.p50, "p90": latency.p90, "p99": latency.p99, "mean": latency.mean},
        "throughput_sps": performance.throughput_sps,
        "model": {"format": document.model.format, "size_bytes": document.model.size_bytes,
                  "sha256": document.model.sha256},
        "runtime": document.runtime.get("type"),
        "target": document.environment.get("target", {}).get("kind")
        or document.scenario.get("target", {}).get("kind"),
        "measurements": str(path),
    }


def publish_summary(url: str, document: Measurements, path: Path) -> None:
    """Publish one run's summary with QoS 1 and wait for the broker's acknowledgement."""
    with MqttPublisher(url, drain_timeout_s=10.0) as publisher:
        publisher.publish(run_summary(document, path))
