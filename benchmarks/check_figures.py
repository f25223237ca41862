"""Check the figures the docs promise: run each scenario a figures table names and fail
(exit 1) when a measured figure leaves its documented tolerance.

A figures table in README.md or docs/*.md has this header (one row per figure)::

    | scenario | figure | documented | tolerance |
    |---|---|---|---|
    | examples/digits/digits-fp32.yml | quality.metrics.accuracy | 0.9833 | ± 0.010 |

``figure`` is a dotted path into the run's measurements.json, or ``wall_s`` for the wall
time of ``heiti run`` with everything already built (a second run); ``tolerance`` is
absolute (``± 0.010``) or relative (``± 20 %``). tests/test_demo.py checks the README's
digits rows with the same parser on every test run; this script checks the rest, which
take minutes to hours (training the keyword-spotting and detection examples).

    python benchmarks/check_figures.py                        # every table in README.md and docs/
    python benchmarks/check_figures.py docs/detection.md      # one document's figures
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = re.compile(r"^\|\s*scenario\s*\|\s*figure\s*\|\s*documented\s*\|\s*tolerance\s*\|\s*$")
TOLERANCE = re.compile(r"^±\s*([0-9.eE+-]+)\s*(%?)$")


@dataclass(frozen=True)
class Figure:
    scenario: str  # relative to the repository
    field: str
    documented: float
    tolerance: float
    relative: bool
    source: str  # document:line

    @property
    def bounds(self) -> tuple[float, float]:
        margin = abs(self.documented) * self.tolerance / 100 if self.relative else self.tolerance
        return self.documented - margin, self.documented + margin

    def holds(self, measured: float) -> bool:
        low, high = self.bounds
        return low <= measured <= high


def documented(path: Path) -> list[Figure]:
    """The rows of every figures table in a Markdown file."""
    figures: list[Figure] = []
    in_table = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if HEADER.match(line):
            in_table = True
            continue
        if not in_table or re.match(r"^\|[\s|:-]+\|$", line):
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        tolerance = TOLERANCE.match(cells[3])
        if len(cells) != 4 or tolerance is None:
            raise ValueError(f"{path}:{number}: a figures row needs scenario | figure | number | "
                             f"± tolerance, got {line!r}")
        figures.append(Figure(cells[0], cells[1], float(cells[2]), float(tolerance.group(1)),
                              tolerance.group(2) == "%", f"{path.name}:{number}"))
    return figures


def field(document: dict, dotted: str) -> float:
    value = document
    for key in dotted.split("."):
        value = value[key]
    return float(value)


def measure(scenario: Path, figures: list[Figure]) -> dict[str, float]:
    """Run the scenario (a second time when its wall time is a figure) and read its figures;
    none when the run fails."""
    from heiti.scenario import load_scenario

    def run() -> float | None:
        started = time.perf_counter()
        if subprocess.run([sys.executable, "-m", "heiti", "run", str(scenario)]).returncode:
            return None
        return time.perf_counter() - started

    wall = run()
    if wall is not None and any(f.field == "wall_s" for f in figures):
        wall = run()  # everything built: the figure is the evaluation's own time
    if wall is None:
        return {}
    path = load_scenario(scenario).build_dir / "measurements.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    return {f.field: wall if f.field == "wall_s" else field(document, f.field) for f in figures}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", type=Path,
                        default=[ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    args = parser.parse_args()
    figures = [f for doc in args.documents for f in documented(doc)]
    by_scenario: dict[str, list[Figure]] = {}
    for figure in figures:
        by_scenario.setdefault(figure.scenario, []).append(figure)
    failed = 0
    print("| document | scenario | figure | documented | tolerance | measured | holds |")
    print("|---|---|---|---|---|---|---|")
    for scenario, rows in by_scenario.items():
        measured = measure(ROOT / scenario, rows)
        for f in rows:
            value = measured.get(f.field)
            holds = value is not None and f.holds(value)
            failed += not holds
            tolerance = f"± {f.tolerance:g}" + (" %" if f.relative else "")
            shown = "run failed" if value is None else f"{value:.6g}"
            print(f"| {f.source} | {scenario} | {f.field} | {f.documented:g} | {tolerance} | "
                  f"{shown} | {'yes' if holds else 'NO'} |", flush=True)
    print(f"{len(figures) - failed} of {len(figures)} figures within their tolerance")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
