"""``heiti package``: a heiti micro C model as a folder to build into a board's firmware."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package", help="hand over a heiti micro C model as a self-contained folder: model and "
                        "kernel sources, CMakeLists.txt and Makefile for a static library, an "
                        "example main.c, a README with flash and RAM")
    parser.add_argument("source", type=Path, metavar="SCENARIO_OR_BUILD_DIR",
                        help="a scenario whose chain ends in micro-c (optimized first when needed), "
                             "its build folder, or the c-int8 artifact folder")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="the package folder (new, empty, or an earlier heiti package)")
    parser.add_argument("--board", metavar="NAME",
                        help="the board of the cross-compiling toolchain file (default: the "
                             "scenario's emulated board, else mps2-an386)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti import boards
    from heiti.core.files import refuse_inside
    from heiti.deploy import micro
    from heiti.errors import InputError

    source: Path = args.source
    board_name = args.board
    if source.is_file():
        from heiti.flow import run as flow
        from heiti.flow.binding import bind
        from heiti.scenario import load_scenario

        scenario = load_scenario(source)
        refuse_inside(args.output, scenario.dataset.path_parameters(), "package folder")
        artifact = flow.optimize(scenario)[-1]
        if artifact.format != micro.FORMAT:
            raise InputError(f"scenario '{scenario.name}' ends in a model of format {artifact.format}; heiti "
                             f"package takes a heiti micro C model ({micro.FORMAT})",
                             hint="end the chain with {type: micro-c} (docs/micro.md)")
        data = scenario.dataset.split(scenario.spec.test.split).head(1)
        spec = artifact.io.inputs[0]
        sample = spec.quantize(bind(data.inputs, artifact.io)[spec.name])[0]
        origin = f"the first {scenario.spec.test.split} sample of dataset '{scenario.dataset.name}'"
        name = scenario.name
        if board_name is None and scenario.target.name == "qemu":
            board_name = scenario.target.params.board
    elif source.is_dir():
        artifact = micro.find_artifact(source)
        sample = micro.synthetic_sample(artifact)
        origin = "pseudo-random values, seed 0"
        name = artifact.path.parent.name if source != artifact.path else artifact.path.name
    else:
        raise InputError(f"'{source}' does not exist",
                         hint="give a scenario file, its build folder or a c-int8 artifact folder")
    board = boards.get(board_name or micro.DEFAULT_BOARD, Path.cwd())
    out = micro.write_package(artifact, args.output, board, sample, origin, _c_name(name))
    print(out)
    return 0


def _c_name(name: str) -> str:
    """A name safe in C comments and CMake: letters, digits, '-' and '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "model"
