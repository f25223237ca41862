"""``heiti run``: optimize, test and report one or more scenarios."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="optimize, test and report one or more scenarios")
    parser.add_argument("scenarios", nargs="+", type=Path, metavar="SCENARIO")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="where to write the comparison report of several scenarios "
                             "(default: comparison/ beside the first scenario's build directory)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.errors import RunFailed
    from heiti.pipeline import run as flow
    from heiti.publish.summary import publish_summary
    from heiti.report import render_report
    from heiti.scenario import load_scenario

    scenarios = [load_scenario(path) for path in args.scenarios]
    for scenario in scenarios:  # every scenario is checked before any of them runs
        flow.plan_chain(scenario)
    results, failures = [], []
    for scenario in scenarios:
        path, document = flow.test(scenario)
        results.append((scenario, path, document))
        if scenario.spec.report.enabled:
            title = scenario.spec.report.title or scenario.name
            for out in render_report([path], scenario.report_dir, title=title):
                print(out)
        if scenario.spec.report.publish:
            try:  # the measurements are written whatever the broker does
                publish_summary(scenario.spec.report.publish, document, path)
            except RunFailed as exc:
                failures.append(exc)
    if len(results) > 1:
        target = args.compare or scenarios[0].build_dir.parent / "comparison"
        for out in render_report([path for _, path, _ in results], target, title="comparison"):
            print(out)
    for scenario, _, document in results:
        flow.check_quality_gate(scenario, document)
    if failures:
        raise failures[0]
    return 0
