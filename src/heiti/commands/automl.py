"""``heiti automl``: search a scenario's ``search:`` space under the target's limits."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "automl", help="search models that fit the target (the scenario's 'search:' section): "
                       "infeasible candidates are rejected before training; report and best N")
    parser.add_argument("scenario", type=Path, metavar="SCENARIO")
    parser.add_argument("--resume", action="store_true", help="continue the study in the output folder")
    parser.add_argument("--ray", action="store_true", help="run trials as Ray tasks on a local instance")
    parser.add_argument("--ray-address", metavar="ADDRESS", help="run trials on this Ray cluster")
    parser.add_argument("--workers", type=int, metavar="N", help="trials at once on Ray (default: its CPUs)")
    parser.add_argument("--no-best", action="store_true", help="skip evaluating the best trials")
    parser.add_argument("-o", "--output", type=Path, metavar="DIR",
                        help="default: automl/ in the scenario's build directory")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.api import automl
    from heiti.errors import InputError

    if args.workers is not None and args.workers < 1:
        raise InputError("--workers must be at least 1")
    result = automl(args.scenario, resume=args.resume, ray=args.ray, address=args.ray_address,
                    workers=args.workers, evaluate_best=not args.no_best, output=args.output)
    for path in [*result["report"], *result["comparison"], result["summary"]]:
        print(path)
    counts = ", ".join(f"{n} {o}" for o, n in result["counts"].items())
    print(f"trials: {counts}")
    return 0
