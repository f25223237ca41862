"""Environment variables in the paths of a scenario: ``${DATA}/pumps.csv``.

A scenario can then stay in its repository while its data lives wherever each machine
keeps it. Only the braced form is expanded (a bare ``$`` in a file name stays as it is);
``${NAME:-fallback}`` takes ``fallback`` when NAME is unset or empty. An unset (or empty)
variable without a fallback, or a ``${`` left unclosed, is bad input named with the field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from heiti.errors import InputError


class PathVariableError(InputError):
    """A variable that cannot be expanded; ``where`` is relative (``parameters.path``), so
    the scenario loader prefixes the component's place in the file."""


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_variables(path: Path, where: str) -> Path:
    """``path`` with each ``${NAME}`` (or ``${NAME:-fallback}``) replaced by its value."""
    text = str(path)
    if "${" not in text:
        return path
    if "${" in _VARIABLE.sub("", text):
        raise PathVariableError(f"{where}: '{text}' has a '${{' that does not start a variable "
                                "such as ${DATA} or ${DATA:-fallback}",
                                hint="close the braces; a variable name is letters, digits and "
                                     "underscores")

    def value(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        found = os.environ.get(name)
        if found:
            return found
        if fallback is not None:
            return fallback
        raise PathVariableError(f"{where}: the environment variable {name} in '{text}' is not "
                                "set (or empty)",
                                hint=f"set it before running heiti (export {name}=...), or give "
                                     f"a fallback: ${{{name}:-default/path}}")

    return Path(_VARIABLE.sub(value, text))
