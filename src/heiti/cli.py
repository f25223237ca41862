"""Command line entry point: builds the parser from the modules in ``heiti.commands``.

Each command module defines ``register(subparsers)`` (adding its parsers with a
``handler``) and imports heavy things only inside its handler, so ``heiti --help``
stays fast. Adding a command is adding one module.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from heiti import __version__
from heiti.errors import HeitiError


def build_parser() -> argparse.ArgumentParser:
    import heiti.commands

    parser = argparse.ArgumentParser(
        prog="heiti",
        description="Deploy neural networks on edge devices and measure how they run there.",
    )
    parser.add_argument("--version", action="version", version=f"heiti {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = sorted(info.name for info in pkgutil.iter_modules(heiti.commands.__path__))
    for name in sorted(modules, key=lambda m: getattr(heiti.commands, "ORDER", {}).get(m, 99)):
        importlib.import_module(f"heiti.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args) or 0
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
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
