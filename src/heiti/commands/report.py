"""``heiti report``: render measurements files as Markdown and HTML."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="render measurements as Markdown and HTML "
                                                  "(several files: a comparison)")
    parser.add_argument("measurements", nargs="+", type=Path, metavar="MEASUREMENTS")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="DIR")
    parser.add_argument("--title", help="report title")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.report import render_report

    for path in render_report(args.measurements, args.output, title=args.title):
        print(path)
    return 0
