"""Reports: Markdown for repositories and one self-contained HTML file with plots."""

from heiti.report.render import render_report

__all__ = ["render_report"]
