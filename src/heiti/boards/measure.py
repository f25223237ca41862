"""What a board run measured, as the measurements file records it: memory of the linked
firmware against the board's limits, instructions per inference, per layer and per MAC,
and the stack high-water mark.

QEMU counts instructions, not cycles: times derived from them at the board's nominal clock
assume one instruction per cycle and are labelled as estimates.
"""

from __future__ import annotations

from typing import Any

from heiti.boards.build import Firmware
from heiti.boards.elf import object_bytes

WEIGHTS = r"op\d+_weight\w*"  # micro-c's weight arrays: int8, or packed indices, palette and decoder


def summarize(firmware: Firmware, stats: dict[str, Any], layers: list[dict[str, Any]]) -> dict[str, Any]:
    board = firmware.board
    sections = firmware.sections.sections
    count = int(stats.get("inferences") or 0)
    instructions = stats.get("instructions", {})
    mean = instructions.get("total", 0) / count if count else None
    macs = sum(row["macs"] for row in layers)
    per_layer = stats.get("layer_instructions")
    rows = []
    if per_layer and count and len(per_layer) == len(layers):
        for index, (row, total) in enumerate(zip(layers, per_layer, strict=True)):
            executed = total / count
            rows.append({"index": index, **row, "instructions": executed,
                         "instructions_per_mac": executed / row["macs"] if row["macs"] else None})
    resolution = board.counter.instructions_per_tick
    return {
        "name": board.name, "cpu": board.cpu, "isa": board.isa, "clock_hz": board.clock_hz,
        "counter": board.counter.kind
        + (f" (resolution {resolution} instructions)" if resolution > 1 else ""),
        "profiling_build": firmware.profile, "firmware": str(firmware.elf),
        "flash": {"used_bytes": firmware.flash_bytes, "limit_bytes": board.flash.size,
                  "sections": {s.name: s.size for s in sections if s.flash},
                  "weights_bytes": object_bytes(firmware.elf, WEIGHTS)},
        "ram": {"used_bytes": firmware.ram_bytes, "limit_bytes": board.ram.size,
                "sections": {s.name: s.size for s in sections if s.ram}},
        "stack": {"reserved_bytes": stats.get("stack", {}).get("size", board.stack_bytes),
                  "high_water_bytes": stats.get("stack", {}).get("high_water")},
        "inferences": count,
        "instructions_per_inference": {"mean": mean, "min": instructions.get("min"),
                                       "max": instructions.get("max")},
        "macs_per_inference": macs,
        "instructions_per_mac": mean / macs if mean and macs else None,
        "estimated_ms_at_nominal_clock": mean / board.clock_hz * 1e3 if mean else None,
        "layers": rows,
    }

