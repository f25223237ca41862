"""Plots of measurements, rendered with matplotlib's Agg backend to PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


def _figure(width: float = 7.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    # ticks read 697.4, never "+6.974e2" with an offset: the formatter takes it when made
    with matplotlib.rc_context({"axes.formatter.useoffset": False}):
        fig, ax = plt.subplots(figsize=(width, height), dpi=110)
    ax.grid(alpha=0.3)
    return fig, ax


def _png(fig) -> bytes:
    """The figure as PNG bytes. Its text is drawn as written: names from measurements and
    datasets (runs, classes, layers) may hold ``$...$``, which mathtext would parse (and
    fail on); texts made while drawing (ticks) follow the same setting."""
    import matplotlib
    from matplotlib import pyplot as plt
    from matplotlib.text import Text

    for text in fig.findobj(Text):
        text.set_parse_math(False)
    buffer = io.BytesIO()
    with matplotlib.rc_context({"text.parse_math": False}):
        fig.tight_layout()
        fig.savefig(buffer, format="png", bbox_inches="tight")  # long labels are never cut off
    plt.close(fig)
    return buffer.getvalue()


def latency_over_time(doc: Measurements) -> bytes:
    series = doc.performance.series
    fig, ax = _figure()
    # dots, not lines: a line between two far-apart samples suggests values never measured
    ax.plot(series.offset_s, series.latency_ms, ".", ms=2.5, label="inference call")
    if series.target_latency_ms is not None:
        ax.plot(series.offset_s, series.target_latency_ms, ".", ms=2.5, label="on target")
        ax.legend()
    ax.set(xlabel="time since start [s]", ylabel="latency [ms]", title="Latency over time")
    return _png(fig)


def latency_histogram(doc: Measurements) -> bytes:
    values = np.asarray(doc.performance.series.latency_ms)
    stats = doc.performance.latency_ms.model_dump()
    fig, ax = _figure()
    high = robust_upper(values)
    shown = values[values <= high]
    ax.hist(shown, bins=50, color="#4c72b0")
    for key, style in (("p50", "-"), ("p99", "--")):
        if stats[key] <= high:
            ax.axvline(stats[key], color="#c44e52", ls=style, label=f"{key} {stats[key]:.3f} ms")
    ax.legend()
    hidden = len(values) - len(shown)
    ax.set(xlabel=f"latency [ms] ({hidden} outlier(s) above {high:.3g} ms not shown, max "
                  f"{stats['max']:.3g} ms)" if hidden else "latency [ms]", ylabel="batches",
           title="Latency distribution")
    return _png(fig)


def robust_upper(values: np.ndarray) -> float:
    """Where a latency histogram stops: three interquartile ranges above the third quartile
    (Tukey's far-out fence), so that a few slow calls (a page fault, a preempted thread)
    cannot squeeze every other sample into one bin; at least 1.25 x the median."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return float(max(q3 + 3 * (q3 - q1), 1.25 * median))


SHORT_RUN_SAMPLES = 5  # CPU/memory samples below which the plot shows little


def resources_over_time(doc: Measurements) -> bytes:
    series = doc.resources["series"]
    fig, ax = _figure()
    ax.plot(series["t_s"], series["cpu_percent"], "o-", color="#4c72b0", lw=0.9, ms=2.5)
    ax.set(xlabel="time since start [s]", ylabel="CPU [% of one core]", title="CPU and memory")
    ram = ax.twinx()
    ram.plot(series["t_s"], series["rss_mb"], "o-", color="#dd8452", lw=0.9, ms=2.5)
    ram.set_ylabel("RSS [MiB]", color="#dd8452")
    if len(series["t_s"]) < SHORT_RUN_SAMPLES:
        ax.text(0.5, 0.5, f"only {len(series['t_s'])} sample(s): the run was shorter than a few "
                f"sampling periods ({doc.resources['interval_s'] * 1e3:.0f} ms);\n"
                "set test.min_duration_s to measure longer",
                transform=ax.transAxes, ha="center", va="center", fontsize=9, color="#555")
    return _png(fig)


def confusion_matrix(counts: list[list[int]], names: list[str]) -> bytes:
    matrix = np.asarray(counts, dtype=float)
    size = min(2.5 + 0.45 * len(names), 9)
    fig, ax = _figure(size + 1, size)
    ax.grid(False)
    normalized = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    image = ax.imshow(normalized, cmap="Blues", vmin=0, vmax=1)
    if len(names) <= 20:
        for (t, p), count in np.ndenumerate(matrix):
            if count:
                ax.text(p, t, int(count), ha="center", va="center", fontsize=7,
                        color="white" if normalized[t, p] > 0.5 else "black")
    ticks = range(len(names))
    ax.set_xticks(ticks, names, rotation=90 if len(names) > 10 else 0)
    ax.set_yticks(ticks, names)
    ax.set(xlabel="predicted", ylabel="true", title="Confusion matrix (row-normalized)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


def latency_vs_metric(docs: list[Measurements]) -> bytes:
    """Each run's median latency against its task's primary metric; runs are told apart by
    a numbered legend, so runs with equal figures do not print over each other."""
    from heiti.report.verdict import board_figures, latency_ms

    metric = docs[0].quality.primary_metric
    fig, ax = _figure(7, 4.2 + 0.18 * len(docs))
    boards = [board_figures(d) for d in docs]  # a board run: its estimate and its flash
    sizes = np.array([b["flash_bytes"] if b else d.model.size_bytes
                      for d, b in zip(docs, boards, strict=True)], dtype=float)
    marker = 60 + 900 * sizes / max(sizes.max(), 1)
    xs = [latency_ms(d) for d in docs]
    seen: dict[tuple[str, str], int] = {}  # runs with (nearly) the same figures: numbers side by side
    for number, (doc, x, area, size) in enumerate(zip(docs, xs, marker, sizes, strict=True), start=1):
        y = doc.quality.primary
        if y is None:
            continue
        ax.scatter([x], [y], s=area, alpha=0.55, label=f"{number} {doc.name} ({size / 1024:.1f} KiB)")
        twin = seen[(f"{x:.2g}", f"{y:.3g}")] = seen.get((f"{x:.2g}", f"{y:.3g}"), -1) + 1
        ax.annotate(str(number), (x, y), xytext=(9 * twin, 0), textcoords="offset points",
                    ha="center", va="center", fontsize=8)
    if min(xs) > 0 and max(xs) / min(xs) > 50:  # a board's milliseconds beside a host's microseconds
        from matplotlib.ticker import FuncFormatter, NullFormatter

        ax.set_xscale("log")  # plain tick labels: the figure's text is drawn without mathtext
        ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set(xlabel="median latency [ms]" + (" (board runs: estimate at the board's clock)"
                                           if any(boards) else ""), ylabel=metric,
           title=f"Latency vs {metric} (marker area: model size" + (", flash for boards)" if any(boards)
                                                                     else ")"))
    legend = ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    for handle in legend.legend_handles:  # one small marker each, not the run's area over its label
        handle.set_sizes([30])
    ax.margins(0.25)
    return _png(fig)


def latency_boxplot(docs: list[Measurements]) -> bytes:
    from heiti.report.verdict import board_figures

    fig, ax = _figure(7, 0.6 + 0.5 * len(docs) + 1.5)
    boards = [board_figures(d) is not None and d.performance.series.target_latency_ms for d in docs]
    ax.boxplot([d.performance.series.target_latency_ms if board else d.performance.series.latency_ms
                for d, board in zip(docs, boards, strict=True)], orientation="horizontal",
               tick_labels=[d.name for d in docs], showfliers=False)
    ax.set(xlabel="latency [ms]" + (" (board runs: estimate at the board's clock)" if any(boards) else ""),
           title="Latency distribution per run (outliers hidden)")
    return _png(fig)


def layer_sensitivity(result: dict) -> bytes:
    """Per-layer SQNR bars and, on a second axis, the metric with only that layer quantized."""
    layers = result["layers"]
    labels = [f"{layer['index']} {layer['kind']}" for layer in layers]
    fig, ax = _figure(max(5.0, 0.32 * len(layers) + 2), 3.4)
    ax.bar(range(len(layers)), [layer["sqnr_db"] for layer in layers], color="#4c72b0")
    ax.set_xticks(range(len(layers)), labels, rotation=90, fontsize=7)
    ax.set(ylabel="SQNR of the int8 output [dB]", title=f"Per-layer sensitivity ({result['scheme']})")
    alone = [layer["metric_only_this_layer"] for layer in layers]
    if result.get("float") is not None and None not in alone:
        metric = ax.twinx()
        metric.plot(range(len(layers)), alone, "o", color="#dd8452", ms=4)
        metric.axhline(result["float"], color="#dd8452", lw=0.8, ls="--")
        metric.set_ylabel(f"{result['metric']}, only this layer int8\n(dashed: float)", color="#dd8452")
    return _png(fig)
