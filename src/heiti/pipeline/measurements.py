"""The measurements file: one versioned, typed JSON document per test run.

Its schema is documented in docs/measurements.md; bump SCHEMA_VERSION when a field
changes meaning or disappears (adding fields keeps the version).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from heiti import __version__
from heiti.core.artifact import Artifact
from heiti.core.files import require_file, write_json
from heiti.core.formats import Format
from heiti.core.task import Quality
from heiti.errors import InputError
from heiti.pipeline.inference import LoopResult, latency_statistics

SCHEMA = "heiti.measurements"
SCHEMA_VERSION = 2  # 2: the task's typed quality section, the dataset section, named outputs


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class Latency(_Section):
    mean: float
    std: float
    min: float
    max: float
    p50: float
    p90: float
    p99: float


class Series(_Section):
    offset_s: list[float]
    latency_ms: list[float]
    target_latency_ms: list[float] | None = None


class Performance(_Section):
    batch_size: int
    samples: int
    passes: int
    batches: int
    warmup: int
    latency_ms: Latency
    target_latency_ms: Latency | None = Field(None, description="measured by a remote target itself")
    throughput_sps: float | None
    wall_throughput_sps: float | None
    series: Series


class ChainStep(_Section):
    producer: str
    format: str
    file: str
    size_bytes: int
    sha256: str
    duration_s: float | None
    details: dict[str, Any] = {}


class ModelSection(_Section):
    path: str
    format: str
    size_bytes: int
    sha256: str
    io: dict[str, Any]
    chain: list[ChainStep]
    parameters: int | None = None
    macs: int | None = None
    statistics_from: str | None = None


class LayerProfile(_Section):
    runtime: str
    runs: int  # profiled calls each time is the mean of
    layers: list[dict[str, Any]]  # name, op_type, mean_ms; slowest first


class DatasetSection(_Section):
    type: str
    parameters: dict[str, Any]
    split: str
    samples: int


class Measurements(_Section):
    schema_tag: str = Field(SCHEMA, alias="schema")
    schema_version: int = SCHEMA_VERSION
    heiti_version: str = __version__
    name: str
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    scenario: dict[str, Any]
    dataset: DatasetSection
    environment: dict[str, Any]
    runtime: dict[str, Any]
    model: ModelSection
    performance: Performance
    resources: dict[str, Any]
    quality: Quality
    files: dict[str, str] = Field({}, description="further outputs beside this file, by role "
                                  "(predictions CSV, example figure)")
    profile: LayerProfile | None = Field(None, description="per-layer times from the runtime's "
                                         "profiler (test.profile_runs)")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, protected_namespaces=())

    @property
    def target_kind(self) -> str:
        return str(self.scenario["target"]["kind"])

    def write(self, path: Path) -> Path:
        write_json(path, self.model_dump(mode="json", by_alias=True))
        return path


def performance_section(loop: LoopResult, warmup: int) -> Performance:
    total_s = loop.latencies_ns.sum() / 1e9
    timed_samples = loop.samples * loop.passes
    target = loop.target_latencies_ns
    return Performance(
        batch_size=loop.batch_size, samples=loop.samples, passes=loop.passes,
        batches=len(loop.latencies_ns), warmup=warmup,
        latency_ms=Latency(**latency_statistics(loop.latencies_ns)),
        target_latency_ms=None if target is None else Latency(**latency_statistics(target)),
        throughput_sps=timed_samples / total_s if total_s > 0 else None,
        wall_throughput_sps=timed_samples / loop.wall_s if loop.wall_s > 0 else None,
        series=Series(
            offset_s=np.round(loop.offsets_s, 6).tolist(),
            latency_ms=np.round(loop.latencies_ns / 1e6, 6).tolist(),
            target_latency_ms=None if target is None else np.round(target / 1e6, 6).tolist()),
    )


def model_section(artifacts: list[Artifact]) -> ModelSection:
    final = artifacts[-1]
    return ModelSection(
        path=str(final.path), format=final.format, size_bytes=final.size_bytes,
        sha256=final.sha256, io=final.io.model_dump(mode="json"),
        chain=[ChainStep(producer=a.provenance.producer, format=a.format, file=a.path.name,
                         size_bytes=a.size_bytes, sha256=a.sha256, duration_s=a.provenance.duration_s,
                         details={k: v for k, v in a.provenance.details.items() if k != "history"})
               for a in artifacts],
        **network_statistics(artifacts),
    )


def network_statistics(artifacts: list[Artifact]) -> dict[str, Any]:
    """Parameter and MAC counts from the last artifact heiti can analyse (ONNX or PyTorch):
    compilers change the encoding of a network, not its arithmetic."""
    for artifact in reversed(artifacts):
        if Format.parse(artifact.format).family == "onnx":
            from heiti.frameworks import onnx_tools

            stats = onnx_tools.stats(artifact.path)
            return {"parameters": stats["parameters"], "macs": stats["macs"],
                    "statistics_from": artifact.path.name}
        if artifact.format == "torch":
            from heiti.frameworks import torch_tools

            module = torch_tools.load_module(artifact)
            shape = tuple(artifact.provenance.details["input_shape"])
            return {"parameters": torch_tools.parameter_count(module),
                    "macs": torch_tools.mac_count(module, shape),
                    "statistics_from": artifact.path.name}
    return {}


def load_measurements(path: Path) -> Measurements:
    require_file(path, given=path, what="measurements file")
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as exc:
        raise InputError(f"measurements file '{path}' is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InputError(f"'{path}' is not a heiti measurements file (no '{SCHEMA}' schema tag)")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        newer = isinstance(version, int) and version > SCHEMA_VERSION
        raise InputError(f"'{path}' has schema version {version}; this heiti reads version "
                         f"{SCHEMA_VERSION}",
                         hint="upgrade heiti" if newer else "rerun 'heiti test' on its scenario "
                         "to measure it again with this heiti")
    try:
        return Measurements.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(f"measurements file '{path}' is damaged: {where}: {first['msg']}") from None
