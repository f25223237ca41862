"""Write constraints.txt: the exact versions installed in this environment of every package
heiti[all,dev] needs (its dependency closure; heiti itself and stray packages left out).

Run by `make lock` after installing the newest versions pyproject.toml allows; the tests
then run against exactly these, and `make demo`/`make test`/CI install with `-c constraints.txt`.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT, EXTRAS = "heiti", ("all", "dev")
HEADER = """\
# The package set the test suite passed with (Python {python}): `make demo`, `make test` and CI
# install with `pip install -c constraints.txt`. Refresh: `make lock` (installs the newest
# versions pyproject.toml allows, writes this file; then run `make test` and commit both).
"""


def closure(root: str, extras: tuple[str, ...]) -> dict[str, str]:
    """Installed name -> version of every distribution ``root[extras]`` pulls in."""
    found: dict[str, str] = {}
    pending = [(root, set(extras))]
    seen: set[tuple[str, frozenset[str]]] = set()
    while pending:
        name, wanted = pending.pop()
        if (key := (canonicalize_name(name), frozenset(wanted))) in seen:
            continue
        seen.add(key)
        dist = metadata.distribution(name)
        found[dist.metadata["Name"]] = dist.version
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker and not any(req.marker.evaluate({"extra": e}) for e in wanted or {""}):
                continue
            if canonicalize_name(req.name) == canonicalize_name(root):  # heiti[all] -> heiti[torch,...]
                pending.append((root, set(req.extras)))
                continue
            try:
                metadata.distribution(req.name)
            except metadata.PackageNotFoundError:  # an optional dependency for another platform
                continue
            pending.append((req.name, set(req.extras)))
    found.pop(next(n for n in found if canonicalize_name(n) == ROOT))
    return found


def main() -> None:
    pins = closure(ROOT, EXTRAS)
    lines = [f"{name}=={version}" for name, version in sorted(pins.items(), key=lambda p: p[0].lower())]
    python = ".".join(map(str, sys.version_info[:2]))
    Path("constraints.txt").write_text(HEADER.format(python=python) + "\n".join(lines) + "\n",
                                       encoding="utf-8")
    print(f"constraints.txt: {len(lines)} packages")


if __name__ == "__main__":
    main()
