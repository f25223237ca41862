"""What a report says: sections of tables and figures built from measurements.

Kept separate from the output formats so Markdown and HTML show the same content.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heiti.errors import InputError
from heiti.report import plots

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


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


def run_sections(doc: Measurements, prefix: str, folder: Path | None = None) -> list[Section]:
    """The sections of one run; ``folder`` holds the measurements file and the files it lists."""
    from heiti import registry

    model, perf, quality = doc.model, doc.performance, doc.quality
    host = doc.environment["host"]
    chain = " → ".join(step.producer.split(":", 1)[1] for step in model.chain)
    dataset = doc.dataset
    summary = Table(["item", "value"], [
        ["scenario", doc.name],
        ["task", quality.task],
        ["dataset", f"{dataset.type}{_where(dataset.parameters)}, {dataset.split} split, "
                    f"{dataset.samples} samples"],
        ["chain", chain],
        ["runtime", f"{doc.runtime['type']} {doc.runtime['parameters']}"],
        ["target", doc.target_kind],
        ["model file", f"{Path(model.path).name} ({model.format}, {kib(model.size_bytes)})"],
        ["parameters / MACs", f"{num(model.parameters)} / {num(model.macs)}"],
        ["host", f"{host['cpu']} ({host['cpu_count']} cores, int8 instructions "
                 f"{host.get('int8_instructions', 'not recorded')}), Python {host['python']}"],
        ["frameworks", ", ".join(f"{k} {v}" for k, v in host["frameworks"].items())],
        ["created", doc.created],
    ])
    lat = perf.latency_ms
    remote = perf.target_latency_ms is not None
    performance = Table(
        ["samples", "passes", "batch", "mean ms", "std ms", "p50 ms", "p90 ms", "p99 ms", "throughput/s"],
        [[num(perf.samples), num(perf.passes), num(perf.batch_size), num(lat.mean), num(lat.std),
          num(lat.p50), num(lat.p90), num(lat.p99), num(perf.throughput_sps, 1)]],
    )
    resources = doc.resources
    timing = ("host times are per call with the transport included; the target's own inference "
              "times are in the second table" if remote else
              "latency is timed around the runtime call only")
    from heiti.report.board import board_sections  # (imports this module)

    board = board_sections(doc)  # a board run's own figures come first
    sections = [
        Section("Summary", [summary]),
        *board,
        Section("Performance", [performance, *_target_latency(doc)], [
            Figure(f"{prefix}latency", "Latency over time", lambda: plots.latency_over_time(doc)),
            Figure(f"{prefix}histogram", "Latency distribution", lambda: plots.latency_histogram(doc)),
            Figure(f"{prefix}resources", "CPU and memory over time",
                   lambda: plots.resources_over_time(doc)),
        ], notes=[f"CPU mean {resources['cpu_percent']['mean']:.0f} % of one core, "
                  f"RSS max {resources['rss_mb']['max']:.0f} MiB; {perf.warmup} warm-up runs "
                  f"excluded; {timing}."]),
    ]
    samples = len(resources["series"]["t_s"])
    if samples < plots.SHORT_RUN_SAMPLES:
        sections[-1].notes.append(
            f"The run lasted only {samples} CPU/memory sampling period(s) "
            f"({resources['interval_s'] * 1e3:.0f} ms each), too few for the plot to show much: "
            "set test.min_duration_s (e.g. 2) to repeat the timed passes for longer.")
    from heiti.report.compression import compression_sections
    from heiti.report.layers import profile_sections

    sections += profile_sections(doc)
    sections += compression_sections(doc)
    sections += _micro_memory(doc)
    task = registry.get("task", quality.task)()
    sections += task.report_sections(quality, prefix)
    sections += _examples(doc, prefix, folder)
    from heiti.report.sensitivity import sensitivity_sections

    return sections + sensitivity_sections(doc, prefix)


def _micro_memory(doc: Measurements) -> list[Section]:
    """heiti micro's C model: the arena the planner laid out and, when the Cortex-M4 build
    ran, flash and RAM (recorded by micro-c in the artifact's sidecar)."""
    step = next((s for s in doc.model.chain if s.producer == "optimizer:micro-c"), None)
    if step is None or "arena_bytes" not in step.details:
        return []
    d, m4 = step.details, step.details.get("cortex_m4") or {}
    rows = [["activation arena", num(d["arena_bytes"]),
             f"planner lower bound {num(d.get('lower_bound_bytes'))} B, one buffer per tensor "
             f"{num(d.get('naive_bytes'))} B"],
            ["weights", num(d.get("weight_bytes")), "constant, in flash"]]
    if "flash_bytes" in m4:
        rows += [["Cortex-M4 flash", num(m4["flash_bytes"]), f"code and constants ({m4['compiler']})"],
                 ["Cortex-M4 RAM", num(m4["ram_bytes"]),
                  f"static data and arena, plus a stack bound of {num(m4['stack_bytes'])} B"]]
    notes = [f"Cortex-M4 build skipped: {m4['skipped']}."] if "skipped" in m4 else []
    return [Section("Microcontroller memory", [Table(["memory", "bytes", "what"], rows)],
                    notes=notes)]


def _examples(doc: Measurements, prefix: str, folder: Path | None) -> list[Section]:
    """The task's figure of samples with their predictions, when the run drew one (taken only
    from the measurements file's own folder: see heiti.report.references)."""
    from heiti.report.references import referenced_png

    name = doc.files.get("examples")
    if folder is None or name is None:
        return []
    png, refused = referenced_png(folder, name, "examples")
    if refused:
        return [Section("Examples", notes=[refused])]
    if png is None:
        return []
    figure: bytes = png
    return [Section("Examples", figures=[
        Figure(f"{prefix}examples", "Samples with truth and predictions", lambda: figure)])]


def _where(parameters: dict[str, Any]) -> str:
    """The file or folder a dataset read, when its parameters name one."""
    path = parameters.get("path")
    return f" ({path})" if isinstance(path, str) and path else ""


def _target_latency(doc: Measurements) -> list[Table]:
    """Remote targets: inference time measured on the target beside the host's round trip."""
    perf, target = doc.performance, doc.environment.get("target") or {}
    if perf.target_latency_ms is None:
        return []
    keys = ("mean", "p50", "p90", "p99")
    on_target, on_host = perf.target_latency_ms.model_dump(), perf.latency_ms.model_dump()
    return [Table(["measured", *(f"{k} ms" for k in keys)], [
        [_target_label(doc, target), *(num(on_target[k]) for k in keys)],
        ["on the host: per call, transport included (table above)", *(num(on_host[k]) for k in keys)]])]


def _target_label(doc: Measurements, target: dict[str, Any]) -> str:
    if (doc.resources.get("target") or {}).get("board"):
        return (f"on the board ({target.get('cpu', '?')}): an estimate, instructions counted by "
                "QEMU at the nominal clock")
    return f"on the target ({target.get('cpu', '?')}): inference only"


def comparison_sections(docs: list[Measurements]) -> list[Section]:
    from heiti import registry
    from heiti.report.int8_loss import int8_losses

    tasks = {doc.quality.task for doc in docs}
    if len(tasks) > 1:
        raise InputError(f"runs of different tasks ({', '.join(sorted(tasks))}) cannot be compared",
                         hint="compare runs of one task at a time")
    from heiti.report.verdict import board_figures

    columns = registry.get("task", tasks.pop())().comparison_columns()
    boards = [board_figures(doc) for doc in docs]
    rows = []
    for doc, board in zip(docs, boards, strict=True):
        lat = doc.performance.latency_ms
        row = [doc.name, doc.model.format, doc.runtime["type"], doc.target_kind,
               kib(doc.model.size_bytes), *(num(doc.quality.metrics.get(c)) for c in columns),
               num(lat.p50), num(lat.p99), num(doc.performance.throughput_sps, 1)]
        if board is not None:  # the board's own figures, not the host's round trip or C size
            estimate = doc.performance.target_latency_ms
            row[4] = f"{kib(board['flash_bytes'])} flash"
            row[-3:] = [num(estimate.p50 if estimate else board["estimate_ms"]),
                        num(estimate.p99 if estimate else None), num(1000 / board["estimate_ms"], 1)]
        if any(boards):
            row += [num(None if board is None else round(board["instructions"])),
                    num(None if board is None else board["flash_bytes"]),
                    num(None if board is None else board["ram_bytes"])]
        rows.append(row)
    header = ["run", "format", "runtime", "target", "size", *columns, "p50 ms", "p99 ms", "throughput/s"]
    notes = [f"warning: {w}" for w in int8_losses(docs)]
    if any(boards):
        header += ["instructions / inference", "flash B", "RAM B"]
        notes.insert(0, "Board runs: size is the linked firmware's flash, latency and throughput the "
                        "board's own estimate (instructions at its nominal clock), not the host's "
                        "round trip to the emulator; flash and RAM from the firmware ELF.")
    table = Table(header, rows)
    metric = docs[0].quality.primary_metric
    from heiti.report.compression import compression_comparison
    from heiti.report.layers import side_by_side_sections

    return [Section("Runs compared", [table], [
        Figure("compare-latency-metric", f"Latency versus {metric}",
               lambda: plots.latency_vs_metric(docs)),
        Figure("compare-latency", "Latency per run", lambda: plots.latency_boxplot(docs)),
    ], notes=notes), *compression_comparison(docs), *side_by_side_sections(docs)]
