"""The ONNX conversion grid as a report: one row per model, one column per framework."""

from __future__ import annotations

from pathlib import Path

from heiti.onnxgrid.base import Grid
from heiti.report.content import Section, Table
from heiti.report.render import write_report

LEGEND = ("Each cell is '<export to ONNX> / <import from ONNX>', both checked against ONNX Runtime "
          "on the same inputs. supported: worked and the numbers agree; unsupported: the framework "
          "has no such conversion here; ERROR: it raised or computes different numbers (details in "
          "the footnote, or hover/click in HTML); unverified: import not tried because export "
          "failed; not provided: the framework has no such model.")


def render_grid(grid: Grid, out_dir: Path) -> list[Path]:
    names = list(grid.frameworks)
    table = Table(["model", *[f"{n} {v}" for n, v in grid.frameworks.items()]], [])
    for r, model in enumerate(grid.models):
        row = [model]
        for c, framework in enumerate(names, start=1):
            cell = grid.cell(model, framework)
            row.append(cell.text)
            if cell.detail:
                table.tips[(r, c)] = cell.detail
        table.rows.append(row)
    return write_report(out_dir, "heiti ONNX conversion grid",
                        [Section("Export / import support", [table], notes=[LEGEND])])
