"""``heiti benchmark``: a bare model file timed with synthetic inputs, no scenario needed."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COLUMNS = ("mean", "std", "min", "p50", "p90", "p99", "max")


def _shape(text: str) -> tuple[str, list[int]]:
    name, _, dims = text.rpartition("=")
    try:
        shape = [int(d) for d in dims.lower().split("x")]
    except ValueError:
        shape = []
    if not name or not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not NAME=DIMS such as input=1x3x224x224")
    return name, shape


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "benchmark", help="time a model file with synthetic inputs of its own IO specification "
                          "(no scenario or dataset): latency percentiles, throughput, per-layer "
                          "profile")
    parser.add_argument("model", type=Path, metavar="MODEL_FILE",
                        help=".onnx, .tflite, OpenVINO .xml, or a heiti artifact (with its sidecar)")
    parser.add_argument("--runtime", metavar="NAME",
                        help="default: the first installed runtime that runs the model's format")
    parser.add_argument("--target", metavar="KIND[:KEY=VALUE,...]",
                        help="where to run: qemu:board=mps2-an386 (a c-int8 artifact on an emulated "
                             "board), remote:port=12345 (a heiti server); default: this host")
    parser.add_argument("--fill", choices=("random", "zeros"), default="random",
                        help="input values: random (seed 0; floats in [0, 1), integers over their "
                             "range) or zeros (default: random)")
    parser.add_argument("--iterations", type=_positive, default=100, metavar="N",
                        help="timed calls (default 100)")
    parser.add_argument("--warmup", type=int, default=10, metavar="N",
                        help="untimed calls first (default 10)")
    parser.add_argument("--threads", type=int, metavar="N",
                        help="inference threads, 0 for one per core (default: the runtime's, 1)")
    parser.add_argument("--batch", type=_positive, default=1, metavar="N",
                        help="batch size for a dynamic batch dimension (default 1)")
    parser.add_argument("--shape", type=_shape, action="append", default=[], metavar="NAME=DIMS",
                        help="an input's full shape, e.g. input=1x3x224x224 (for dynamic "
                             "dimensions; repeatable)")
    parser.add_argument("--profile", action="store_true",
                        help="also profile per layer, in a separate session after the timed "
                             "calls (runtimes: onnxruntime, openvino, tvm)")
    parser.add_argument("--profile-runs", type=_positive, default=20, metavar="N",
                        help="calls averaged by --profile (default 20)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the figures as JSON ('-': stdout)")
    parser.add_argument("--csv", type=Path, metavar="FILE",
                        help="write the figures as one CSV row ('-': stdout); with --profile, the "
                             "layers go to FILE-layers.csv")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.errors import InputError
    from heiti.pipeline import benchmark

    if args.warmup < 0:
        raise InputError("--warmup must be 0 or more")
    if args.threads is not None and args.threads < 0:
        raise InputError("--threads must be 0 (one per core) or more")
    model = benchmark.load_model_file(args.model)
    target = benchmark.pick_target(args.target)
    runtime = benchmark.pick_runtime(model, args.runtime, args.threads, target.runs_runtime_here)
    if args.profile:
        benchmark.check_profiler(runtime, target, "--profile")
    result = benchmark.benchmark(model, runtime, args.fill, args.iterations, args.warmup,
                                 args.batch, dict(args.shape),
                                 args.profile_runs if args.profile else 0, target)
    summary = result.summary()
    to_stdout = Path("-") in (args.json, args.csv)
    if not to_stdout:
        print(format_table(summary))
    if args.json:
        _write(args.json, _json(summary))
    if args.csv:
        _write(args.csv, _csv([_row(summary)]))
        if summary["profile"] and str(args.csv) != "-":
            layers = args.csv.with_name(args.csv.stem + "-layers.csv")
            _write(layers, _csv([{**layer, "nodes": " ".join(layer["nodes"])}
                                 for layer in summary["profile"]]))
    return 0


def format_table(summary: dict[str, Any]) -> str:
    inputs = ", ".join(f"{n}[{'x'.join(map(str, s))}]" for n, s in summary["inputs"].items())
    versions = " ".join(f"{k} {v}" for k, v in summary["versions"].items())
    params = ", ".join(f"{k} {v}" for k, v in summary["runtime_parameters"].items())
    lines = [
        f"model       {summary['model']} ({summary['format']}, {summary['size_bytes'] / 1024:.1f} KiB)",
        f"runtime     {summary['runtime']} on {summary['target']} ({versions or 'version unknown'}; "
        f"{params or 'defaults'})",
        f"inputs      {inputs}, {summary['fill']}",
        f"calls       {summary['iterations']} timed after {summary['warmup']} warm-up, "
        f"batch {summary['batch_size']}",
        "",
        "latency ms  " + "".join(f"{c:>10}" for c in COLUMNS),
        "            " + "".join(f"{summary['latency_ms'][c]:>10.4f}" for c in COLUMNS),
    ]
    if summary["target_latency_ms"]:
        board = (summary["target_statistics"] or {}).get("board")
        lines.append("on target  " + "".join(f"{summary['target_latency_ms'][c]:>10.4f}" for c in COLUMNS)
                     + ("  (the board's estimate at its clock; the row above: host round trips)"
                        if board else "  (measured by the target; the row above: host round trips)"))
        if board:
            lines.append(f"board       {board['name']}: {board['instructions_per_inference']['mean']:,.0f} "
                         f"instructions per inference, flash {board['flash']['used_bytes']:,} B, "
                         f"RAM {board['ram']['used_bytes']:,} B")
    if summary["throughput_sps"]:
        lines.append(f"throughput  {summary['throughput_sps']:.1f} samples/s (inside the timed calls)")
    if summary["profile"]:
        lines += ["", f"per layer (mean of {summary['profile_runs']} profiled calls, slowest first)",
                  f"{'ms':>10} {'share':>7}  {'type':<20} layer"]
        for layer in summary["profile"]:
            lines.append(f"{layer['mean_ms']:>10.4f} {layer['share']:>7.1%}  "
                         f"{layer['op_type'][:20]:<20} {layer['name']}")
    return "\n".join(lines)


def _row(summary: dict[str, Any]) -> dict[str, Any]:
    return {"model": summary["model"], "format": summary["format"], "runtime": summary["runtime"],
            "batch_size": summary["batch_size"], "iterations": summary["iterations"],
            "fill": summary["fill"],
            **{f"latency_{c}_ms": summary["latency_ms"][c] for c in COLUMNS},
            "throughput_sps": summary["throughput_sps"]}


def _json(summary: dict[str, Any]) -> str:
    import json

    from heiti.pipeline.environment import host_environment

    return json.dumps({**summary, "host": host_environment()}, indent=2) + "\n"


def _csv(rows: list[dict[str, Any]]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write(path: Path, text: str) -> None:
    from heiti.core.files import write_atomic

    if str(path) == "-":
        sys.stdout.write(text)
    else:
        write_atomic(path, text)
        print(path, file=sys.stderr)
