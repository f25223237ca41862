"""``heiti list`` and ``heiti info``: what components exist and how to configure them."""

from __future__ import annotations

import argparse

KINDS = ["task", "dataset", "model", "optimizer", "runtime", "target", "source", "transform", "sink",
         "tool", "board"]


def register(subparsers: argparse._SubParsersAction) -> None:
    listing = subparsers.add_parser("list", help="list components (and boards) by kind, with missing extras")
    listing.add_argument("--kind", choices=KINDS)
    listing.set_defaults(handler=run_list)
    info = subparsers.add_parser("info", help="describe one component and its parameters, or a board")
    info.add_argument("name")
    info.set_defaults(handler=run_info)


def run_list(args: argparse.Namespace) -> int:
    from heiti import catalog

    print(catalog.listing(args.kind))
    return 0


def run_info(args: argparse.Namespace) -> int:
    from heiti import catalog

    print(catalog.info(args.name))
    return 0
