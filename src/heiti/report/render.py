"""Writing a report: Markdown with PNG files beside it, and one self-contained HTML file."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from pydantic import ValidationError

from heiti.core.files import make_dir, refuse_inside, write_atomic
from heiti.errors import HeitiError
from heiti.pipeline.measurements import Measurements, load_measurements
from heiti.report import export
from heiti.report.content import Section, comparison_sections, run_sections
from heiti.report.verdict import verdict_section

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222}
h1{border-bottom:2px solid #4c72b0;padding-bottom:.2em}h2{margin-top:1.6em;color:#2d4a7a}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccd;padding:.25em .6em;text-align:left}th{background:#eef2f8}
tr:nth-child(even) td{background:#fafbfd}figure{margin:1em 0}img{max-width:100%}
figcaption{color:#555;font-size:.85em}.note{color:#555;font-size:.9em}
details summary{cursor:pointer}pre.tip{white-space:pre-wrap;max-width:40em;font-size:.8em;color:#822}
"""


def render_report(paths: list[Path], out_dir: Path, title: str | None = None) -> list[Path]:
    """Render one run's report, or a comparison when given several measurement files."""
    docs = [load_measurements(Path(p)) for p in paths]
    for doc in docs:
        refuse_inside(out_dir, _dataset_paths(doc), "output folder")
    if len(docs) == 1:
        sections = [verdict_section(docs), *run_sections(docs[0], prefix="", folder=Path(paths[0]).parent)]
        title = title or f"heiti report: {docs[0].name}"
    else:
        sections = [verdict_section(docs), *comparison_sections(docs)]
        for number, (doc, path) in enumerate(zip(docs, paths, strict=True), start=1):
            sections += [Section(f"{doc.name}: {s.title}", s.tables, s.figures, s.notes)
                         for s in run_sections(doc, prefix=f"{number}-",
                                                  folder=Path(path).parent)]
        title = title or "heiti comparison"
        written = write_report(out_dir, title, sections)
        export.write_rows(Path(out_dir) / "comparison.csv", export.comparison_rows(docs, paths))
        return written
    return write_report(out_dir, title, sections)


def _dataset_paths(doc: Measurements) -> list[Path]:
    """The files and folders the measured run's dataset read (none when its type is unknown)."""
    from heiti import registry

    try:
        return registry.get("dataset", doc.dataset.type)(doc.dataset.parameters).path_parameters()
    except (HeitiError, ValidationError):
        return []


def write_report(out_dir: Path, title: str, sections: list[Section]) -> list[Path]:
    """Draw the figures and write report.md (PNGs beside it) and a self-contained report.html."""
    out_dir = make_dir(Path(out_dir))
    images = {fig.name: fig.draw() for section in sections for fig in section.figures}
    for name, png in images.items():
        write_atomic(out_dir / _png_name(name), png)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_atomic(md_path, _markdown(title, sections))
    write_atomic(html_path, _html(title, sections, images))
    export.write_tables(out_dir, title, sections)  # the tables as data: tables.json, table-*.csv
    return [md_path, html_path]


def _png_name(name: str) -> str:
    """A figure's file name: one plain name inside the output folder, whatever its source."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", name) + ".png"


# Markdown that text taken from measurements could start: HTML (raw tags and entities),
# links and images, code, emphasis, math; every field is written with these escaped
_MARKDOWN_ACTIVE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\\": "\\\\",
                                  "[": "\\[", "]": "\\]", "`": "\\`", "*": "\\*", "$": "\\$",
                                  "|": "\\|"})


def md_text(text: str) -> str:
    """``text`` as literal Markdown on one line: nothing in it becomes markup, a tag or a
    link, and a line break cannot end a table row or start a heading."""
    return " ".join(str(text).translate(_MARKDOWN_ACTIVE).split())


def _markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {md_text(title)}", ""]
    footnote = 1
    for section in sections:
        lines += [f"## {md_text(section.title)}", ""]
        for table in section.tables:
            lines.append("| " + " | ".join(map(md_text, table.header)) + " |")
            lines.append("|" + "---|" * len(table.header))
            notes: list[str] = []
            for r, row in enumerate(table.rows):
                cells = []
                for c, cell in enumerate(row):
                    text = md_text(cell)
                    tip = table.tips.get((r, c))
                    if tip:
                        notes.append(f"[^{footnote + len(notes)}]: " + md_text(tip))
                        text += f" [^{footnote + len(notes) - 1}]"
                    cells.append(text)
                lines.append("| " + " | ".join(cells) + " |")
            footnote += len(notes)
            lines += ["", *notes, ""] if notes else [""]
        lines += [f"{md_text(note)}\n" for note in section.notes]
        lines += [f"![{md_text(fig.caption)}]({_png_name(fig.name)})\n" for fig in section.figures]
    return "\n".join(lines)


def _html(title: str, sections: list[Section], images: dict[str, bytes]) -> str:
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1>"]
    for section in sections:
        parts.append(f"<h2>{esc(section.title)}</h2>")
        for table in section.tables:
            head = "".join(f"<th>{esc(h)}</th>" for h in table.header)
            body = "".join("<tr>" + "".join(_html_cell(c, table.tips.get((r, i)))
                                            for i, c in enumerate(row)) + "</tr>"
                           for r, row in enumerate(table.rows))
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        parts += [f"<p class='note'>{esc(note)}</p>" for note in section.notes]
        for fig in section.figures:
            data = base64.b64encode(images[fig.name]).decode("ascii")
            parts.append(f"<figure><img alt='{esc(fig.caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{esc(fig.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _html_cell(text: str, tip: str | None) -> str:
    if not tip:
        return f"<td>{html.escape(text)}</td>"
    return (f"<td title='{html.escape(tip, quote=True)}'><details><summary>{html.escape(text)}"
            f"</summary><pre class='tip'>{html.escape(tip)}</pre></details></td>")
