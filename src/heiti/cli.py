"""Command line: parses arguments, calls the API, prints. No framework imports here."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heiti import __version__
from heiti.errors import HeitiError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heiti",
        description="Deploy neural networks on edge devices and measure how they run there.",
    )
    parser.add_argument("--version", action="version", version=f"heiti {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", help="optimize, test and report one or more scenarios")
    run.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    run.add_argument("--compare", type=Path, metavar="DIR",
                     help="where to write the comparison report of several scenarios "
                          "(default: comparison/ beside the first scenario's build directory)")
    for name, text in (("train", "train the scenario's model (reuses a current one)"),
                       ("optimize", "train if needed and run the optimizer chain"),
                       ("test", "evaluate the final model on the target; write measurements")):
        step = commands.add_parser(name, help=text)
        step.add_argument("scenario", type=Path, metavar="SCENARIO")
        if name != "test":
            step.add_argument("--force", action="store_true", help="redo even when up to date")

    report = commands.add_parser("report", help="render measurements as Markdown and HTML")
    report.add_argument("measurements", nargs="+", type=Path, metavar="MEASUREMENTS")
    report.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    report.add_argument("--title", help="report title")

    listing = commands.add_parser("list", help="list components by kind")
    listing.add_argument("--kind", choices=["dataset", "model", "optimizer", "runtime", "target"])
    info = commands.add_parser("info", help="describe one component and its parameters")
    info.add_argument("name")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except HeitiError as exc:
        if args.debug:
            raise
        print(f"heiti: error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("heiti: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command in ("list", "info"):
        from heiti import catalog

        print(catalog.listing(args.kind) if args.command == "list" else catalog.info(args.name))
        return 0
    if args.command == "report":
        from heiti.report import render_report

        paths = render_report(args.measurements, args.output, title=args.title)
        for path in paths:
            print(path)
        return 0

    from heiti.flow import run as flow
    from heiti.scenario import load_scenario

    if args.command == "run":
        from heiti.report import render_report

        scenarios = [load_scenario(path) for path in args.scenarios]  # all checked up front
        for scenario in scenarios:
            flow.plan_chain(scenario)
        documents = []
        for scenario in scenarios:
            path, document = flow.test(scenario)
            documents.append((scenario, path, document))
            if scenario.spec.report.enabled:
                title = scenario.spec.report.title or scenario.name
                for out in render_report([path], scenario.report_dir, title=title):
                    print(out)
        if len(documents) > 1:
            target = args.compare or scenarios[0].build_dir.parent / "comparison"
            for out in render_report([p for _, p, _ in documents], target, title="comparison"):
                print(out)
        for scenario, _, document in documents:
            flow.check_quality_gate(scenario, document)
        return 0

    scenario = load_scenario(args.scenario)
    if args.command == "train":
        print(flow.train(scenario, force=args.force).path)
    elif args.command == "optimize":
        print(flow.optimize(scenario, force=args.force)[-1].path)
    elif args.command == "test":
        path, document = flow.test(scenario)
        print(path)
        flow.check_quality_gate(scenario, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
