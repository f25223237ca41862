"""One exception hierarchy: every error a user can cause carries a message and a hint.

The CLI prints ``message`` and ``hint`` (never a traceback unless ``--debug``) and
exits with ``exit_code``: 2 for bad input, 1 for a run that completed but failed.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable, Iterator


class HeitiError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class InputError(HeitiError):
    """Bad scenario, arguments or files: nothing was run."""

    exit_code = 2


class MissingExtraError(InputError):
    """A component needs an optional dependency that is not installed."""

    def __init__(self, component: str, extra: str, module: str):
        super().__init__(
            f"component '{component}' needs the Python module '{module}', which is not installed",
            hint=f'pip install "heiti[{extra}]"',
        )
        self.extra = extra


class RunFailed(HeitiError):
    """The run was carried out but did not succeed (a target error, a quality gate)."""

    exit_code = 1


# errno values that say a path given by the user is wrong, not that the run broke
_PATH_ERRNOS = {errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM,
                errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP}
# a full disk (or a file size limit): the environment failed, not the component
_FULL_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


def from_os_error(exc: OSError) -> HeitiError:
    """A file system error as a message: a wrong or unwritable path is bad input (exit 2),
    anything else (a full disk, an I/O error) a failed run (exit 1)."""
    where = " or ".join(f"'{name}'" for name in (exc.filename, exc.filename2) if name)
    message = f"{exc.strerror or exc}" + (f": {where}" if where else "")
    if exc.errno in _PATH_ERRNOS:
        return InputError(message, hint="check the paths in the scenario and the arguments "
                                        "(build_dir, report.directory, -o)")
    return RunFailed(message, hint="free disk space (or raise the file size limit) and run again; "
                                   "finished steps are reused")


@contextlib.contextmanager
def component_failures(what: str, captured: Callable[[], str] | None = None) -> Iterator[None]:
    """The one wrapper at a component boundary: a framework's own exception (any type) becomes
    RunFailed naming ``what`` failed, with the framework's message shortened and, when given,
    the tail of what it printed (``captured()``). heiti's own errors pass through; a full
    disk is worded as such."""
    try:
        yield
    except HeitiError:
        raise
    except Exception as exc:  # frameworks raise their own types; all mean "this step failed"
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:  # not the component's fault
            raise from_os_error(exc) from exc
        message = _tidy(str(exc)) or type(exc).__name__
        if len(message) > 3000:
            message = message[:1500] + "\n...\n" + message[-1500:]
        printed = captured().strip()[-2000:] if captured else ""
        raise RunFailed(f"{what} failed: {message}" + (f"\n{printed}" if printed else "")) from exc


def _tidy(message: str) -> str:
    """A framework's message without repeated lines and the command line it echoes."""
    message = message.split("\nInvoked with:")[0].strip()
    lines: list[str] = []
    for line in message.splitlines():
        if not lines or line != lines[-1]:
            lines.append(line)
    return "\n".join(lines)
