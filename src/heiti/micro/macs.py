"""Multiply-accumulates per operator: what instruction counts per MAC are measured against."""

from __future__ import annotations

from typing import Any

from heiti.micro.graph import Graph


def layer_table(graph: Graph) -> list[dict[str, Any]]:
    """One row per operator, in graph order: kind, output tensor, MACs (conv and dense) and,
    for convolutions, the kernel ("3x3", "3x3 depthwise")."""
    rows = []
    for op in graph.ops:
        row = {"kind": op.kind, "output": op.output, "macs": 0}
        if op.kind == "conv2d":
            cout, cin_group, kh, kw = op.arrays["weight"].shape
            _, oh, ow = graph.tensors[op.output].shape
            row["macs"] = int(cout * oh * ow * cin_group * kh * kw)
            row["kernel"] = f"{kh}x{kw}" + (" depthwise" if op.attrs["groups"] > 1 else "")
        elif op.kind == "dense":
            row["macs"] = int(op.arrays["weight"].size)
        rows.append(row)
    return rows
