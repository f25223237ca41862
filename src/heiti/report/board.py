"""The board section of a report: memory against the board's limits and instruction counts
measured by an emulated (or real) microcontroller running heiti's firmware."""

from __future__ import annotations

from typing import TYPE_CHECKING

from heiti.report.content import Section, Table, num

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


def board_sections(doc: Measurements) -> list[Section]:
    board = (doc.resources.get("target") or {}).get("board")
    if not board:
        return []
    memory = Table(["memory", "used B", "limit B", "used %", "sections"], [
        [region, num(board[key]["used_bytes"]), num(board[key]["limit_bytes"]),
         num(100 * board[key]["used_bytes"] / board[key]["limit_bytes"], 2),
         ", ".join(f"{name} {size:,}" for name, size in board[key]["sections"].items())]
        for region, key in (("flash", "flash"), ("RAM", "ram"))])
    stack = board["stack"]
    per_inference = board["instructions_per_inference"]
    totals = Table(["instructions / inference", "MACs / inference", "instructions / MAC",
                    "stack high water B", "estimate at nominal clock ms"], [
        [_count(per_inference["mean"]), num(board["macs_per_inference"]),
         num(board["instructions_per_mac"], 2),
         f"{num(stack['high_water_bytes'])} of {num(stack['reserved_bytes'])}",
         num(board["estimated_ms_at_nominal_clock"], 3)]])
    tables = [memory, totals]
    if board["layers"]:
        tables.append(Table(["layer", "operator", "MACs", "instructions", "instructions / MAC"], [
            [num(row["index"]), row["kind"], num(row["macs"]), _count(row["instructions"]),
             num(row["instructions_per_mac"], 2)] for row in board["layers"]]))
    notes = [f"{board['name']} ({board['cpu']}, {board['isa']}), counted with {board['counter']}. "
             "QEMU counts instructions, not cycles: the time at the nominal clock of "
             f"{board['clock_hz'] / 1e6:g} MHz assumes one instruction per cycle and is an "
             "estimate (the target latency under Performance is the same estimate per sample)."]
    if stack["high_water_bytes"] and stack["high_water_bytes"] >= stack["reserved_bytes"]:
        notes.append("The stack used all of its reserved bytes: it has probably overflowed into "
                     ".bss; raise the board's stack_bytes.")
    if board["profiling_build"]:
        notes.append("Per-layer counts come from a profiling build: each layer boundary adds "
                     "about 40 counted instructions.")
    return [Section("Board", tables, notes=notes)]


def _count(value: float | None) -> str:
    return num(None if value is None else round(value))
