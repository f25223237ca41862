"""Static memory planning: every intermediate tensor gets an offset in one arena.

Usage::

    plan = plan_memory(graph)                 # greedy by size, first fit
    plan.offsets["t3"], plan.arena_bytes, plan.lower_bound

A tensor lives from the step that writes it to the last step that reads it (the
graph output to the end). Operators whose unit says so (``reshape`` always, ``clamp``
when its input dies there) run in place: they share their input's buffer. ``scratch``
buffers live during one operator only (a palette-stored layer's decoded weights,
``micro/palette.py``) and are placed like tensors. Strategies only assign
offsets to buffers, so they can be swapped (see ``Strategy``). The model input is
read from the caller's buffer and is not in the arena.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from heiti.micro.graph import Graph
from heiti.micro.ops import unit

ALIGN = 4  # word-aligned buffers: cheap on Cortex-M, and sizes stay comparable


@dataclass
class Buffer:
    name: str
    size: int
    first: int
    last: int
    tensors: list[str] = field(default_factory=list)

    def overlaps(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


class Strategy(Protocol):
    def place(self, buffers: list[Buffer]) -> dict[str, int]:
        """Offsets (bytes) for the buffers, so that buffers alive together do not overlap."""


class GreedyBySize:
    """Largest buffers first, each at the lowest offset that fits beside the buffers
    already placed that are alive at the same time (as TFLite Micro's greedy planner)."""

    def place(self, buffers: list[Buffer]) -> dict[str, int]:
        offsets: dict[str, int] = {}
        placed: list[Buffer] = []
        for buf in sorted(buffers, key=lambda b: (-b.size, b.first)):
            busy = sorted((offsets[o.name], offsets[o.name] + o.size) for o in placed if o.overlaps(buf))
            offset = 0
            for start, end in busy:
                if start - offset >= buf.size:
                    break
                offset = max(offset, end)
            offsets[buf.name] = offset
            placed.append(buf)
        return offsets


@dataclass
class MemoryPlan:
    offsets: dict[str, int]  # tensor name -> arena offset
    arena_bytes: int
    naive_bytes: int  # every intermediate tensor in its own buffer
    lower_bound: int  # largest total of buffers alive at one step
    in_place: list[str]

    def summary(self) -> dict[str, int]:
        return {"arena_bytes": self.arena_bytes, "naive_bytes": self.naive_bytes,
                "lower_bound_bytes": self.lower_bound}


def _aligned(size: int) -> int:
    return (size + ALIGN - 1) // ALIGN * ALIGN


def buffers(graph: Graph) -> tuple[list[Buffer], list[str]]:
    """Buffers with lifetimes (op indices), after merging in-place operators' outputs."""
    last_use = {name: len(graph.ops) for name in graph.outputs}
    for step, op in enumerate(graph.ops):
        for name in op.inputs:
            last_use[name] = max(last_use.get(name, step), step)
    owner: dict[str, Buffer] = {}
    result: list[Buffer] = []
    in_place: list[str] = []
    for step, op in enumerate(graph.ops):
        source = op.inputs[0]
        mode = unit(op.kind).in_place
        shares = source in owner and (mode == "always" or (
            mode == "last-reader" and last_use[source] == step and source not in graph.outputs))
        size = _aligned(graph.tensors[op.output].size)
        if shares:
            buf = owner[source]
            in_place.append(op.output)
        else:
            buf = Buffer(op.output, size, step, step)
            result.append(buf)
        buf.tensors.append(op.output)
        buf.last = max(buf.last, last_use.get(op.output, step))
        owner[op.output] = buf
    return result, in_place


def plan_memory(graph: Graph, strategy: Strategy | None = None,
                scratch: dict[str, tuple[int, int]] | None = None) -> MemoryPlan:
    """``scratch``: name -> (bytes, the step using it); its offset is ``offsets[name]``."""
    bufs, in_place = buffers(graph)
    scratch = scratch or {}
    bufs += [Buffer(name, _aligned(size), step, step, [name]) for name, (size, step) in scratch.items()]
    placed = (strategy or GreedyBySize()).place(bufs)
    offsets = {t: placed[b.name] for b in bufs for t in b.tensors}
    arena = max((placed[b.name] + b.size for b in bufs), default=0)
    naive = sum(_aligned(graph.tensors[op.output].size) for op in graph.ops
                if unit(op.kind).in_place != "always") + sum(_aligned(s) for s, _ in scratch.values())
    steps = range(len(graph.ops) + 1)
    lower = max((sum(b.size for b in bufs if b.first <= s <= b.last) for s in steps), default=0)
    return MemoryPlan(offsets, arena, naive, lower, in_place)
