"""The matrix report: runtimes by fp32/int8 at a glance, then every cell's figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from heiti.pipeline.matrix import VARIANTS, Cell
from heiti.report import plots
from heiti.report.compression import compression_comparison
from heiti.report.content import Figure, Section, Table, kib, num
from heiti.report.int8_loss import int8_losses
from heiti.report.render import write_report

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


def render_matrix(cells: list[Cell], out_dir: Path, title: str, notes: list[str]) -> list[Path]:
    return write_report(out_dir, title, matrix_sections(cells, out_dir, notes))


def matrix_sections(cells: list[Cell], out_dir: Path, notes: list[str]) -> list[Section]:
    runtimes = list(dict.fromkeys(c.runtime for c in cells))
    extra = [c for c in cells if c.variant not in VARIANTS]
    glance = Table(["runtime", *VARIANTS], [])
    for r, runtime in enumerate(runtimes):
        row = [runtime]
        for v, variant in enumerate(VARIANTS, start=1):
            cell = next((c for c in cells if c.runtime == runtime and c.variant == variant), None)
            row.append(_short(cell))
            if cell is not None and cell.status != "ok":
                glance.tips[(r, v)] = cell.reason
        glance.rows.append(row)
    metric = next((c.result["metric_name"] for c in cells if c.status == "ok"), "metric")
    detail = Table(["cell", "chain", "status", metric, "agreement", "p50 ms", "p99 ms", "size",
                    "compile s"], [])
    for r, cell in enumerate(cells):
        res = cell.result
        agreement = res.get("agreement")
        detail.rows.append([
            cell.name, cell.chain, cell.status, num(res.get("metric")),
            "–" if agreement is None else f"{100 * agreement:.1f} %",
            num(res.get("p50_ms")), num(res.get("p99_ms")), kib(res.get("size_bytes")),
            num(res.get("compile_s"), 2)])
        if cell.status != "ok":
            detail.tips[(r, 2)] = cell.reason
    reference = next((c.result.get("reference") for c in cells if c.result.get("reference")), None)
    sections = [
        Section("Matrix", [glance], notes=[f"Each cell: {metric} and median latency; a failed cell "
                                           "shows why (footnote, or hover/click in HTML)."]),
        Section("Cells", [detail], notes=[
            f"agreement: share of test samples predicted as by '{reference}'." if reference else
            "agreement: no reference cell ran.",
            "compile s: time of the optimizer steps (training excluded).", *notes]),
    ]
    docs = [_load(c) for c in cells if c.status == "ok"]
    sections[1].notes += [f"warning: {w}" for w in int8_losses(docs)]
    sections += compression_comparison(docs)
    if docs:
        sections.append(Section(f"Latency and {metric}", figures=[
            Figure("matrix-latency-metric", f"Median latency versus {metric} per cell",
                   lambda: plots.latency_vs_metric(docs))]))
    if extra:
        sections[1].notes.append(f"{len(extra)} cell(s) from --chain: "
                                 + "; ".join(f"{c.name} = {c.chain}" for c in extra))
    return sections


def _short(cell: Cell | None) -> str:
    if cell is None:
        return "–"
    if cell.status == "ok":
        return f"{num(cell.result['metric'], 3)} · {num(cell.result['p50_ms'], 3)} ms"
    return "n/a" if cell.status == "n/a" else "failed"


def _load(cell: Cell) -> Measurements:
    from heiti.pipeline.measurements import load_measurements

    return load_measurements(Path(cell.result["measurements"])).model_copy(update={"name": cell.name})
