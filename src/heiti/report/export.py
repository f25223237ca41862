"""Report tables as data beside the HTML: every table of a report in ``tables.json`` and
``table-*.csv`` (the cells as shown, numbers as numbers), plus raw rows (one per run, cell
or trial) as CSV and JSON for the comparison, the matrix and AutoML."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heiti.core.files import write_atomic, write_json

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements
    from heiti.report.content import Section

TABLES_JSON = "tables.json"
TABLE_PREFIX = "table-"
_NUMBER = re.compile(r"[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][-+]?\d+)?")
_MISSING = {"–", "-", ""}


def value(cell: str) -> Any:
    """A shown cell as data: a number when it is one (thousands separators dropped), None
    for the '–' of a missing value, else the text."""
    text = cell.strip()
    if text in _MISSING:
        return None
    if _NUMBER.fullmatch(text):
        plain = text.replace(",", "")
        return float(plain) if any(c in plain for c in ".eE") else int(plain)
    return text


def write_tables(out_dir: Path, title: str, sections: list[Section]) -> list[Path]:
    """Each table of ``sections`` as ``table-NAME.csv``, and all of them in ``tables.json``."""
    entries, written = [], []
    for section in sections:
        for i, table in enumerate(section.tables):
            name = TABLE_PREFIX + _slug(section.title) + (f"-{i + 1}" if len(section.tables) > 1 else "")
            while any(e["file"] == f"{name}.csv" for e in entries):
                name += "-2"
            rows = [[value(cell) for cell in row] for row in table.rows]
            path = out_dir / f"{name}.csv"
            write_atomic(path, _csv(table.header, rows))
            written.append(path)
            entries.append({"section": section.title, "file": path.name, "header": table.header,
                            "rows": rows})
    for stale in set(out_dir.glob(f"{TABLE_PREFIX}*.csv")) - set(written):
        stale.unlink()  # a table an earlier report in this folder had
    write_json(out_dir / TABLES_JSON, {"title": title, "tables": entries})
    return [out_dir / TABLES_JSON, *written]


def write_rows(path: Path, rows: list[dict[str, Any]], with_json: bool = True) -> list[Path]:
    """Rows of raw values as ``path`` (CSV; nested values as JSON text) and, unless the caller
    writes a richer JSON of its own there, as JSON beside it (``NAME.json``)."""
    header = list(dict.fromkeys(key for row in rows for key in row))
    flat = [[_flat(row.get(key)) for key in header] for row in rows]
    write_atomic(path, _csv(header, flat))
    if not with_json:
        return [path]
    write_json(path.with_suffix(".json"), rows)
    return [path, path.with_suffix(".json")]


def comparison_rows(docs: list[Measurements], paths: list[Path]) -> list[dict[str, Any]]:
    """One row per compared run: what it ran, its quality metrics and its latency."""
    rows = []
    for doc, path in zip(docs, paths, strict=True):
        perf = doc.performance
        target = perf.target_latency_ms
        rows.append({
            "run": doc.name, "measurements": str(path), "format": doc.model.format,
            "runtime": doc.runtime["type"], "target": doc.target_kind,
            "size_bytes": doc.model.size_bytes, "task": doc.quality.task,
            "primary_metric": doc.quality.primary_metric, **doc.quality.metrics,
            **{f"latency_{k}_ms": v for k, v in perf.latency_ms.model_dump().items()},
            **({f"target_latency_{k}_ms": v for k, v in target.model_dump().items()} if target else {}),
            "throughput_sps": perf.throughput_sps, "samples": perf.samples})
    return rows


def _flat(item: Any) -> Any:
    if isinstance(item, dict | list | tuple):
        return json.dumps(item, default=str)
    return item


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([["" if cell is None else cell for cell in row] for row in rows])
    return buffer.getvalue()


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "table"
