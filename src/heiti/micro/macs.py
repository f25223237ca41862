"""Multiply-accumulates per operator: what instruction counts per MAC are measured against."""

from __future__ import annotations

from typing import Any

from heiti.micro.graph import Graph


def layer_table(graph: Graph) -> list[dict[str, Any]]:
    """One row per operator, in graph order: kind, output tensor and MACs (conv and dense)."""
    rows = []
    for op in graph.ops:
        macs = 0
        if op.kind == "conv2d":
            cout, cin_group, kh, kw = op.arrays["weight"].shape
            _, oh, ow = graph.tensors[op.output].shape
            macs = cout * oh * ow * cin_group * kh * kw
        elif op.kind == "dense":
            macs = int(op.arrays["weight"].size)
        rows.append({"kind": op.kind, "output": op.output, "macs": int(macs)})
    return rows
