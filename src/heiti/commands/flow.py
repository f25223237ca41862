"""``heiti flow``: run a flow file (source, preprocessing, model, postprocessing, sinks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("flow", help="run a flow: a source through preprocessing, a model "
                                   "and postprocessing into sinks (MQTT, JSON lines, console)")
    parser.add_argument("flow", type=Path, metavar="FLOW")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.flows.spec import run_flow

    print(statistics_table(run_flow(args.flow)), file=sys.stderr)
    return 0


def statistics_table(statistics: dict[str, Any]) -> str:
    lines = [f"heiti: flow {statistics['flow']}: {statistics['items']} items in "
             f"{statistics['wall_s']:.2f} s"
             + (f", real-time factor {statistics['real_time_factor']:.3f}"
                if statistics.get("real_time_factor") else ""),
             f"  {'stage':<34} {'items':>7} {'p50 ms':>8} {'p99 ms':>8} {'items/s':>9} {'busy':>5} "
             f"{'blocked s':>9}"]
    for stage in statistics["stages"]:
        count = stage["items_out"] if stage["kind"] == "source" else stage["items_in"]
        lines.append(f"  {stage['stage']:<34} {count:>7} {stage['latency_ms']['p50']:>8.3f} "
                     f"{stage['latency_ms']['p99']:>8.3f} {stage['throughput_ips'] or 0:>9.1f} "
                     f"{stage['busy_fraction'] or 0:>5.0%} {stage['blocked_s']:>9.2f}")
    return "\n".join(lines)
