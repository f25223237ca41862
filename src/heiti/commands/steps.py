"""``heiti train``, ``heiti optimize`` and ``heiti test``: the steps of a scenario on their own."""

from __future__ import annotations

import argparse
from pathlib import Path

STEPS = {"train": "train the scenario's model (reuses a current one)",
         "optimize": "train if needed and run the optimizer chain",
         "test": "evaluate the final model on the target and write the measurements file"}


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, text in STEPS.items():
        parser = subparsers.add_parser(name, help=text)
        parser.add_argument("scenario", type=Path, metavar="SCENARIO")
        if name != "test":
            parser.add_argument("--force", action="store_true", help="redo even when up to date")
        parser.set_defaults(handler=run_step)


def run_step(args: argparse.Namespace) -> int:
    from heiti.pipeline import run as flow
    from heiti.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    if args.command == "train":
        print(flow.train(scenario, force=args.force).path)
    elif args.command == "optimize":
        print(flow.optimize(scenario, force=args.force)[-1].path)
    else:
        path, document = flow.test(scenario)
        print(path)
        flow.check_quality_gate(scenario, document)
    return 0
