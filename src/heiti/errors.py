"""One exception hierarchy: every error a user can cause carries a message and a hint.

The CLI prints ``message`` and ``hint`` (never a traceback unless ``--debug``) and
exits with ``exit_code``: 2 for bad input, 1 for a run that completed but failed.
"""

from __future__ import annotations


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
