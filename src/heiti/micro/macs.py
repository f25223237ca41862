"""Multiply-accumulates per operator: what instruction counts per MAC are measured against."""

from __future__ import annotations

from typing import Any

from heiti.micro.graph import Graph
from heiti.micro.ops import unit


def layer_table(graph: Graph) -> list[dict[str, Any]]:
    """One row per operator, in graph order: kind, output tensor, MACs (each unit counts its
    own) and the unit's description (for convolutions the kernel: "3x3", "3x3 depthwise")."""
    return [{"kind": op.kind, "output": op.output, "macs": unit(op.kind).macs(op, graph)}
            | unit(op.kind).describe(op) for op in graph.ops]
