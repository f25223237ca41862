"""Command line entry point: builds the parser from the modules in ``heiti.commands``.

Each command module defines ``register(subparsers)`` (adding its parsers with a
``handler``) and imports heavy things only inside its handler, so ``heiti --help``
stays fast. Adding a command is adding one module.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pkgutil
import sys

from heiti import __version__
from heiti.errors import HeitiError, RunFailed, from_os_error
from heiti.pipeline import library_log, progress
from heiti.terminal import shown


def build_parser() -> argparse.ArgumentParser:
    import heiti.commands

    parser = argparse.ArgumentParser(
        prog="heiti",
        description="Deploy neural networks on edge devices and measure how they run there.",
    )
    parser.add_argument("--version", action="version", version=f"heiti {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="print results, warnings and errors only: no progress or status lines, "
                             "no other libraries' log lines (also: HEITI_QUIET=1)")
    parser.add_argument("--verbose", action="store_true",
                        help="let other libraries' log lines and warnings through to the terminal "
                             "(by default those below ERROR go to BUILD_DIR/libraries.log)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = sorted(info.name for info in pkgutil.iter_modules(heiti.commands.__path__))
    for name in sorted(modules, key=lambda m: getattr(heiti.commands, "ORDER", {}).get(m, 99)):
        importlib.import_module(f"heiti.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with (progress.quieted() if args.quiet or progress.quiet() else contextlib.nullcontext(),
              library_log.captured(args.verbose)):
            return args.handler(args) or 0
    except KeyboardInterrupt:
        print("heiti: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # HeitiError, OSError and, as a last resort, anything else
        if args.debug:
            raise
        return _report(exc)


def _report(exc: Exception) -> int:
    """Print an error as a message and a hint; return the exit code the README promises."""
    if isinstance(exc, OSError):
        exc = from_os_error(exc)
    elif not isinstance(exc, HeitiError):  # the last resort: a bug, or a framework surprise
        exc = RunFailed(f"unexpected {type(exc).__name__}: {str(exc)[:2000]}",
                        hint="'heiti --debug ...' shows where; please report it as a bug")
    print(f"heiti: error: {shown(exc.message)}", file=sys.stderr)
    if exc.hint:
        print(f"hint: {shown(exc.hint)}", file=sys.stderr)
    return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
