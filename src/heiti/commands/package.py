"""``heiti package``: a heiti micro C model as a folder to build into a board's firmware
(CMake, Arduino or Zephyr layout), or another runtime's model with its IO specification and
a Python runner for the scenario's runtime."""

from __future__ import annotations

import argparse
from pathlib import Path

LAYOUTS = ("cmake", "arduino", "zephyr")  # heiti.deploy.micro writes each


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "package", help="hand over a heiti micro C model as a self-contained folder: model and "
                        "kernel sources, CMakeLists.txt and Makefile for a static library (or an "
                        "Arduino library, a Zephyr module), an example, a README with flash and RAM; "
                        "an ONNX, LiteRT, OpenVINO, ExecuTorch, IREE or TVM model as a folder with its IO "
                        "specification and a Python runner")
    parser.add_argument("source", type=Path, metavar="SCENARIO_OR_BUILD_DIR",
                        help="a scenario (optimized first when needed) whose chain ends in micro-c or "
                             "a model for onnxruntime, litert, tflm, openvino, executorch, iree or tvm, a "
                             "micro-c build folder, or the c-int8 artifact folder")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                        help="the package folder (new, empty, or an earlier heiti package)")
    parser.add_argument("--board", metavar="NAME",
                        help="the board of the cross-compiling toolchain file (default: the "
                             "scenario's emulated board, else mps2-an386)")
    parser.add_argument("--layout", choices=LAYOUTS,
                        help="a heiti micro package's layout: a CMake/make project (default), an "
                             "Arduino library (library.properties, src/) or a Zephyr module "
                             "(zephyr/module.yml)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti import boards
    from heiti.core.files import refuse_inside
    from heiti.deploy import micro, runtime
    from heiti.errors import InputError

    source: Path = args.source
    board_name = args.board
    if source.is_file():
        from heiti.pipeline import run as flow
        from heiti.pipeline.binding import bind
        from heiti.scenario import load_scenario

        scenario = load_scenario(source)
        refuse_inside(args.output, scenario.dataset.path_parameters(), "package folder")
        artifact = flow.optimize(scenario)[-1]
        supported = (micro.FORMAT, *runtime.FORMATS)
        if artifact.format not in supported:
            raise InputError(f"scenario '{scenario.name}' ends in a model of format {artifact.format}; heiti "
                             f"package takes {', '.join(supported)}",
                             hint="end the chain with {type: micro-c} (docs/micro.md) or a "
                                  "converter to one of those (docs/package.md)")
        data = scenario.dataset.split(scenario.spec.test.split).head(1)
        origin = f"the first {scenario.spec.test.split} sample of dataset '{scenario.dataset.name}'"
        name = scenario.name
        inputs = {s.name: s.quantize(bind(data.inputs, artifact.io)[s.name]) for s in artifact.io.inputs}
        if artifact.format != micro.FORMAT:
            if args.layout or args.board:
                raise InputError(f"--layout and --board apply to heiti micro packages, not to a "
                                 f"{artifact.format} model", hint="leave them out")
            print(runtime.write_package(artifact, args.output, inputs, origin, _c_name(name),
                                        scenario.runtime.name))
            return 0
        sample = inputs[artifact.io.inputs[0].name][0]
        if len(inputs) > 1:  # the device's input buffer: every input, one after the other
            from heiti.micro.graph import input_buffer

            sample = input_buffer([inputs[s.name][:1] for s in artifact.io.inputs])[0]
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
    out = micro.write_package(artifact, args.output, board, sample, origin, _c_name(name),
                              args.layout or "cmake")
    print(out)
    return 0


def _c_name(name: str) -> str:
    """A name safe in C comments and CMake: letters, digits, '-' and '_'."""
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "model"
