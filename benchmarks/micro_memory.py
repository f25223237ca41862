"""How close does heiti micro's memory planner get to the best possible arena?

For the demo network (tiny-cnn [32, 64]/128 on 1x8x8 digits) and the MobileNetV2-style
network (width 0.5, depth 0.5, 3x32x32 input), the integer graph's intermediate tensors
are planned by the greedy-by-size strategy. Printed: the arena, the naive sum of all
tensors, the lower bound (largest total alive at one step) and arena / lower bound.
Planning depends on shapes only, so the networks are untrained.

    python benchmarks/micro_memory.py
"""

from __future__ import annotations

import torch

from heiti import registry
from heiti.micro.from_torch import from_torch
from heiti.micro.planner import plan_memory

NETWORKS = [
    ("tiny-cnn [32, 64]/128, 1x8x8", "tiny-cnn", {"channels": [32, 64], "hidden": 128}, (1, 8, 8)),
    ("mobilenet-v2 (0.5, 0.5), 3x32x32", "mobilenet-v2", {}, (3, 32, 32)),
]


def main() -> None:
    print("| network | operators | arena (B) | naive sum (B) | lower bound (B) | arena / bound |")
    print("|---|---|---|---|---|---|")
    for label, name, params, shape in NETWORKS:
        torch.manual_seed(0)
        module = registry.get("model", name)(params).build(shape, 10)
        graph = from_torch(module, shape, 1 / 255)
        plan = plan_memory(graph)
        print(f"| {label} | {len(graph.ops)} | {plan.arena_bytes} | {plan.naive_bytes} | "
              f"{plan.lower_bound} | {plan.arena_bytes / plan.lower_bound:.3f} |")


if __name__ == "__main__":
    main()
