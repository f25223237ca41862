"""The report's first lines: a verdict in one paragraph (the task's metric, the latency on
the target, memory), and for a comparison which run is best at what. A board run is given
in the board's own figures (instructions, estimate at its clock, flash and RAM of the linked
firmware), never in the host's round trip to the emulator or the size of its C sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from heiti.report.content import Section, kib

if TYPE_CHECKING:
    from heiti.pipeline.measurements import Measurements


def board_figures(doc: Measurements) -> dict[str, Any] | None:
    """A board run's own figures (None for other targets)."""
    board = (doc.resources.get("target") or {}).get("board")
    if not board:
        return None
    return {"board": board["name"], "instructions": board["instructions_per_inference"]["mean"],
            "flash_bytes": board["flash"]["used_bytes"], "ram_bytes": board["ram"]["used_bytes"],
            "estimate_ms": board["estimated_ms_at_nominal_clock"]}


def latency_ms(doc: Measurements) -> float:
    """The latency that describes the target: the board's estimate, a remote target's own
    time, else the host's."""
    board = board_figures(doc)
    if board is not None:
        return float(board["estimate_ms"])
    perf = doc.performance
    return (perf.target_latency_ms or perf.latency_ms).p50


def describe(doc: Measurements) -> str:
    """One run in a sentence."""
    quality = doc.quality
    metric = "–" if quality.primary is None else f"{quality.primary:.4f}"
    board = board_figures(doc)
    if board is not None:
        return (f"{doc.name}: {quality.primary_metric} {metric}; {board['estimate_ms']:.3g} ms per "
                f"inference estimated on {board['board']} ({board['instructions'] / 1e6:.3g} M "
                f"instructions at its nominal clock); flash {kib(board['flash_bytes'])}, "
                f"RAM {kib(board['ram_bytes'])} (linked firmware).")
    where = "on the target" if doc.performance.target_latency_ms is not None else "median"
    return (f"{doc.name}: {quality.primary_metric} {metric}; {latency_ms(doc):.3g} ms {where} "
            f"per batch of {doc.performance.batch_size} with {doc.runtime['type']} "
            f"({doc.target_kind}); model file {kib(doc.model.size_bytes)}.")


def verdict_section(docs: list[Measurements]) -> Section:
    from heiti import registry

    notes = [describe(doc) for doc in docs]
    if len(docs) > 1:
        task = registry.get("task", docs[0].quality.task)
        scored = [d for d in docs if d.quality.primary is not None]
        if scored:
            sign = 1 if task.higher_is_better else -1
            best = max(scored, key=lambda d: (sign * d.quality.primary, -latency_ms(d)))
            notes.insert(0, f"Best {best.quality.primary_metric}: {best.name}; fastest: "
                            f"{min(docs, key=latency_ms).name}"
                            + ("; board runs are compared by their estimate at the board's clock"
                               if any(board_figures(d) for d in docs) else "") + ".")
    return Section("Verdict", notes=notes)
