"""What every heiti package folder shares: the marker that lets a new package replace an
earlier one (and only that), and the Jinja2 templates its generated files come from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heiti.errors import InputError

MARKER = "heiti-package.json"  # marks a folder as a heiti package (which a new one may replace)


def refuse_foreign(out: Path) -> None:
    if out.exists() and not (out.is_dir() and (not any(out.iterdir()) or (out / MARKER).is_file())):
        raise InputError(f"'{out}' exists and is not a heiti package; heiti replaces only its own "
                         "package folders", hint="choose a new or empty folder with -o")


def render(templates: str, template: str, facts: dict[str, Any]) -> str:
    """``templates/<templates>/<template>.j2`` filled with ``facts`` (a missing fact is an error)."""
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("heiti.deploy", f"templates/{templates}"),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined,
                             autoescape=False)  # C, CMake, Python and Markdown, not HTML
    return env.get_template(template + ".j2").render(facts)
