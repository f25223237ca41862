"""The measurements file: one versioned JSON document per test run.

Its schema is documented in docs/measurements.md; bump SCHEMA_VERSION when a field
changes meaning or disappears (adding fields keeps the version).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from heiti import __version__
from heiti.core.artifact import Artifact
from heiti.core.files import require_file, write_json
from heiti.errors import InputError
from heiti.flow.inference import LoopResult, latency_statistics

SCHEMA = "heiti.measurements"
SCHEMA_VERSION = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def performance_section(loop: LoopResult, warmup: int) -> dict[str, Any]:
    total_s = loop.latencies_ns.sum() / 1e9
    timed_samples = loop.samples * loop.passes
    section: dict[str, Any] = {
        "batch_size": loop.batch_size,
        "samples": loop.samples,
        "passes": loop.passes,
        "batches": len(loop.latencies_ns),
        "warmup": warmup,
        "latency_ms": latency_statistics(loop.latencies_ns),
        "throughput_sps": timed_samples / total_s if total_s > 0 else None,
        "wall_throughput_sps": timed_samples / loop.wall_s if loop.wall_s > 0 else None,
        "series": {
            "offset_s": np.round(loop.offsets_s, 6).tolist(),
            "latency_ms": np.round(loop.latencies_ns / 1e6, 6).tolist(),
        },
    }
    if loop.target_latencies_ns is not None:
        section["target_latency_ms"] = latency_statistics(loop.target_latencies_ns)
        section["series"]["target_latency_ms"] = np.round(loop.target_latencies_ns / 1e6, 6).tolist()
    return section


def model_section(artifacts: list[Artifact]) -> dict[str, Any]:
    final = artifacts[-1]
    section: dict[str, Any] = {
        "path": str(final.path), "format": final.format, "size_bytes": final.size_bytes,
        "sha256": final.sha256, "io": final.io.model_dump(mode="json"),
        "chain": [
            {"producer": a.provenance.producer, "format": a.format, "file": a.path.name,
             "size_bytes": a.size_bytes, "sha256": a.sha256, "duration_s": a.provenance.duration_s,
             "details": {k: v for k, v in a.provenance.details.items() if k != "history"}}
            for a in artifacts
        ],
    }
    section.update(network_statistics(artifacts))
    return section


def network_statistics(artifacts: list[Artifact]) -> dict[str, Any]:
    """Parameter and MAC counts from the last artifact heiti can analyse (ONNX or PyTorch):
    compilers change the encoding of a network, not its arithmetic."""
    for artifact in reversed(artifacts):
        if artifact.format.startswith("onnx"):
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
    return {"parameters": None, "macs": None, "statistics_from": None}


def write_measurements(path: Path, document: dict[str, Any]) -> Path:
    write_json(path, document)
    return path


def load_measurements(path: Path) -> dict[str, Any]:
    require_file(path, given=path, what="measurements file")
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise InputError(f"measurements file '{path}' is not valid JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise InputError(f"'{path}' is not a heiti measurements file (no '{SCHEMA}' schema tag)")
    if document.get("schema_version", 0) > SCHEMA_VERSION:
        raise InputError(f"'{path}' has schema version {document['schema_version']}; this heiti "
                         f"reads up to {SCHEMA_VERSION}", hint="upgrade heiti")
    return document


def header(name: str) -> dict[str, Any]:
    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "heiti_version": __version__,
            "name": name, "created": now_iso()}
