"""What a report says: sections of tables and figures built from measurements.

Kept separate from the output formats so Markdown and HTML show the same content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heiti.report import plots


@dataclass
class Figure:
    name: str
    caption: str
    draw: Callable[[], bytes]


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]
    # longer text behind a cell, e.g. an error: {(row, column): text}; Markdown shows it as a
    # footnote, HTML as a tooltip and an expandable detail
    tips: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def num(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def kib(size: int | None) -> str:
    return "–" if size is None else f"{size / 1024:.1f} KiB"


def run_sections(doc: dict[str, Any], prefix: str) -> list[Section]:
    model, perf, quality = doc["model"], doc["performance"], doc["quality"]
    host = doc["environment"]["host"]
    chain = " → ".join(step["producer"].split(":", 1)[1] for step in model["chain"])
    summary = Table(["item", "value"], [
        ["scenario", doc["name"]],
        ["chain", chain],
        ["runtime", f"{doc['runtime']['type']} {doc['runtime']['parameters']}"],
        ["target", doc["scenario"]["target"]["kind"]],
        ["model file",
         f"{model['path'].rsplit('/', 1)[-1]} ({model['format']}, {kib(model['size_bytes'])})"],
        ["parameters / MACs", f"{num(model.get('parameters'))} / {num(model.get('macs'))}"],
        ["host", f"{host['cpu']} ({host['cpu_count']} cores), Python {host['python']}"],
        ["frameworks", ", ".join(f"{k} {v}" for k, v in host["frameworks"].items())],
        ["created", doc["created"]],
    ])
    lat = perf["latency_ms"]
    performance = Table(
        ["samples", "passes", "batch", "mean ms", "std ms", "p50 ms", "p90 ms", "p99 ms", "throughput/s"],
        [[num(perf["samples"]), num(perf.get("passes", 1)), num(perf["batch_size"]),
          num(lat["mean"]), num(lat["std"]), num(lat["p50"]), num(lat["p90"]),
          num(lat["p99"]), num(perf["throughput_sps"], 1)]],
    )
    resources = doc["resources"]
    tables = [performance] + _target_latency(doc)
    sections = [
        Section("Summary", [summary]),
        Section("Performance", tables, [
            Figure(f"{prefix}latency", "Latency over time", lambda: plots.latency_over_time(doc)),
            Figure(f"{prefix}histogram", "Latency distribution", lambda: plots.latency_histogram(doc)),
            Figure(f"{prefix}resources", "CPU and memory over time",
                   lambda: plots.resources_over_time(doc)),
        ], notes=[f"CPU mean {resources['cpu_percent']['mean']:.0f} % of one core, "
                  f"RSS max {resources['rss_mb']['max']:.0f} MiB; {perf['warmup']} warm-up runs "
                  "excluded; latency is timed around the runtime call only."]),
    ]
    if quality.get("task") == "classification":
        overall = Table(["accuracy", "top-5", "macro precision", "macro recall", "macro F1", "G-mean"],
                        [[num(quality[k]) for k in ("accuracy", "top5_accuracy", "macro_precision",
                                                      "macro_recall", "macro_f1", "g_mean")]])
        per_class = Table(["class", "precision", "recall", "F1", "support"],
                          [[name, num(m["precision"]), num(m["recall"]), num(m["f1"]),
                            num(m["support"])] for name, m in quality["per_class"].items()])
        sections.append(Section("Quality", [overall, per_class], [
            Figure(f"{prefix}confusion", "Confusion matrix", lambda: plots.confusion_matrix(doc))]))
    from heiti.report.board import board_sections  # (imports this module)

    return sections + board_sections(doc)


def _target_latency(doc: dict[str, Any]) -> list[Table]:
    """Remote targets: inference time measured on the target beside the host's round trip."""
    perf, target = doc["performance"], doc["environment"].get("target") or {}
    if "target_latency_ms" not in perf:
        return []
    keys = ("mean", "p50", "p90", "p99")
    return [Table(["measured", *(f"{k} ms" for k in keys)], [
        [f"on the target ({target.get('cpu', '?')}): inference only",
         *(num(perf["target_latency_ms"][k]) for k in keys)],
        ["on the host: per call, transport included (table above)",
         *(num(perf["latency_ms"][k]) for k in keys)]])]


def comparison_sections(docs: list[dict[str, Any]]) -> list[Section]:
    rows = []
    for doc in docs:
        model, lat, quality = doc["model"], doc["performance"]["latency_ms"], doc["quality"]
        rows.append([doc["name"], model["format"], doc["runtime"]["type"],
                     doc["scenario"]["target"]["kind"], kib(model["size_bytes"]),
                     num(quality.get("accuracy")), num(lat["p50"]), num(lat["p99"]),
                     num(doc["performance"]["throughput_sps"], 1)])
    table = Table(["run", "format", "runtime", "target", "size", "accuracy", "p50 ms", "p99 ms",
                   "throughput/s"], rows)
    return [Section("Runs compared", [table], [
        Figure("compare-latency-accuracy", "Latency versus accuracy",
               lambda: plots.latency_vs_accuracy(docs)),
        Figure("compare-latency", "Latency per run", lambda: plots.latency_boxplot(docs)),
    ])]
