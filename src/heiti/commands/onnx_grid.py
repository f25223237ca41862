"""``heiti onnx-grid``: which models survive the trip to ONNX and back, per framework."""

from __future__ import annotations

import argparse
from pathlib import Path


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "onnx-grid", help="export models from each installed framework to ONNX, import them back "
                          "and render the support grid")
    parser.add_argument("--frameworks", type=_names, metavar="A,B",
                        help="frameworks to test (default: every installed one)")
    parser.add_argument("--models", type=_names, metavar="A,B", help="models to test (default: all)")
    parser.add_argument("-o", "--output", type=Path, default=Path("build/onnx-grid"), metavar="DIR",
                        help="where the ONNX files and the report go (default: build/onnx-grid)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from heiti.core.files import write_json
    from heiti.errors import InputError
    from heiti.onnxgrid.base import build_grid, frameworks
    from heiti.pipeline.run import log
    from heiti.report.onnx_grid import render_grid

    available = {fw.name: fw for fw in frameworks()}
    if not available:
        raise InputError("no framework for the ONNX grid is installed", hint='pip install "heiti[onnx]"')
    unknown = [n for n in args.frameworks or [] if n not in available]
    if unknown:
        raise InputError(f"framework '{unknown[0]}' is unknown or not installed "
                         f"(available: {', '.join(available)})")
    chosen = [available[n] for n in args.frameworks] if args.frameworks else list(available.values())
    grid = build_grid(args.output, chosen, args.models, log=log)
    if not grid.models:
        raise InputError(f"none of the models {args.models} is provided by {', '.join(available)}")
    write_json(args.output / "grid.json", dataclasses.asdict(grid))
    for path in render_grid(grid, args.output):
        print(path)
    return 0
