"""``heiti matrix``: one model through every feasible chain on every installed runtime."""

from __future__ import annotations

import argparse
from pathlib import Path


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "matrix", help="run a scenario's model through every feasible chain (fp32 and int8) on "
                       "every installed runtime and report the matrix")
    parser.add_argument("scenario", type=Path, metavar="SCENARIO")
    parser.add_argument("--runtimes", type=_names, metavar="A,B",
                        help="runtimes to try (default: every installed one)")
    parser.add_argument("--optimizers", type=_names, metavar="A,B",
                        help="optimizers the chains may use besides converters (default: all installed)")
    parser.add_argument("--variants", type=_names, default=["fp32", "int8"], metavar="A,B",
                        help="fp32, int8 or both (default)")
    parser.add_argument("--chain", action="append", default=[], metavar="OPT,...:RUNTIME",
                        help="also run this exact chain, e.g. 'ort-quantize:litert' (repeatable)")
    parser.add_argument("--samples", type=int, metavar="N", help="limit the test samples per cell")
    parser.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="default: matrix/ in the scenario's build directory")
    parser.add_argument("--ray", action="store_true", help="run cells as Ray tasks on a local instance")
    parser.add_argument("--ray-address", metavar="ADDRESS", help="run cells on this Ray cluster")
    parser.add_argument("--workers", type=int, metavar="N", help="cells at once on Ray (default: its CPUs)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.core.files import refuse_inside
    from heiti.errors import InputError
    from heiti.pipeline import matrix
    from heiti.pipeline.environment import host_environment
    from heiti.report.matrix import render_matrix
    from heiti.scenario import load_scenario

    if args.samples is not None and args.samples < 1:
        raise InputError("--samples must be at least 1")
    scenario = load_scenario(args.scenario)
    out_dir = args.output or scenario.build_dir / "matrix"
    refuse_inside(out_dir, scenario.dataset.path_parameters(), "output folder")
    cells = matrix.plan_cells(scenario, args.runtimes, args.optimizers, args.chain, tuple(args.variants))
    matrix.run_cells(scenario, cells, out_dir, args.samples, args.ray, args.ray_address, args.workers)
    host = host_environment()
    test = scenario.spec.test
    notes = [f"host: {host['cpu']} ({host['cpu_count']} cores, int8 instructions "
             f"{host['int8_instructions']}); batch {test.batch_size}, "
             f"{test.warmup} warm-up runs; runtime parameters are each runtime's defaults "
             f"(the scenario's for '{scenario.runtime.name}')."]
    for path in render_matrix(cells, out_dir, f"heiti matrix: {scenario.name}", notes):
        print(path)
    counts = {s: sum(c.status == s for c in cells) for s in ("ok", "failed", "n/a")}
    print(f"{counts['ok']} cells ran, {counts['failed']} failed, {counts['n/a']} not applicable; "
          f"details in {out_dir / 'matrix.json'}")
    return 0
