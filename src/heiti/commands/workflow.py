"""``heiti workflow``: run a workflow's steps, skipping those whose output is current."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("workflow", help="run a workflow's steps (ingest, train, optimize, "
                                   "evaluate, publish, commands), reusing outputs stored by content")
    parser.add_argument("workflow", type=Path, metavar="WORKFLOW")
    parser.add_argument("--dry-run", action="store_true", help="show what would run and why; run nothing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from heiti.workflows.runner import run_workflow
    from heiti.workflows.spec import load_workflow

    workflow = load_workflow(args.workflow)
    run_workflow(workflow, dry_run=args.dry_run, log=lambda line: print(line, flush=True))
    return 0
