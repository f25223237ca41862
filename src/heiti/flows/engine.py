"""Running a flow: one thread per stage, bounded queues between them.

A stage that is slower than the one before it makes that stage's ``put`` block once the
queue between them is full, and so on up to the source, which then reads no further:
memory stays bounded by the queue sizes whatever the speed of the sinks. Each stage
counts its items, the time it spent working on them (its latency per item) and the
time it spent waiting for the next stage to take its output (back-pressure).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from heiti.errors import HeitiError, RunFailed, component_failures
from heiti.flows.stage import Item, Sink, Source, Transform

_END = object()
_POLL_S = 0.1
_KEPT_LATENCIES = 10_000  # percentiles over the most recent items: a long flow stays bounded


class _Stopped(Exception):
    """Another stage failed: this one stops too."""


@dataclass
class StageStatistics:
    name: str
    kind: str
    items_in: int = 0
    items_out: int = 0
    busy_s: float = 0.0
    blocked_s: float = 0.0
    max_queued: int = 0  # highest occupancy of the stage's input queue
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=_KEPT_LATENCIES))

    def record(self, seconds: float) -> None:
        self.busy_s += seconds
        self.latencies_ms.append(seconds * 1e3)

    def summary(self, wall_s: float) -> dict[str, Any]:
        latencies = np.asarray(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        counted = self.items_out if self.kind == "source" else self.items_in
        return {"stage": self.name, "kind": self.kind, "items_in": self.items_in,
                "items_out": self.items_out,
                "latency_ms": {"mean": float(latencies.mean()), "p50": float(np.percentile(latencies, 50)),
                               "p99": float(np.percentile(latencies, 99))},
                "throughput_ips": counted / wall_s if wall_s > 0 else None,
                "busy_fraction": self.busy_s / wall_s if wall_s > 0 else None,
                "blocked_s": round(self.blocked_s, 6), "max_queued": self.max_queued}


class FlowRunner:
    """Wires a source, transforms (in order) and sinks (each gets every item with results)."""

    def __init__(self, name: str, source: Source, transforms: list[tuple[str, Transform]],
                 sinks: list[tuple[str, Sink]], queue_size: int = 8):
        self.name = name
        self.source = source
        self.transforms = transforms
        self.sinks = sinks
        self.queue_size = queue_size
        self._stop = threading.Event()
        self._errors: list[tuple[str, BaseException]] = []
        self._sink_queues: list[queue.Queue] = []

    def run(self) -> dict[str, Any]:
        """Run to the end of the source; return the statistics (also given to the sinks)."""
        opened: list[Sink] = []
        statistics: dict[str, Any] = {}
        try:
            for label, sink in self.sinks:  # an unreachable broker fails before anything is read
                with component_failures(f"flow stage '{label}'"):
                    sink.open(self.name)
                opened.append(sink)
            for label, transform in self.transforms:
                with component_failures(f"flow stage '{label}'"):
                    transform.open()
            with component_failures("flow source"):
                self.source.open()
            statistics = self._run_threads()
        finally:
            for _, transform in self.transforms:
                transform.close()
            self.source.close()
            failures = []
            for sink in opened:  # each sink flushes (MQTT: waits for acknowledgements)
                try:
                    with component_failures(f"flow sink '{sink.name}'"):
                        sink.close(statistics)
                except HeitiError as exc:
                    failures.append(exc)
        if self._errors:
            stage, error = self._errors[0]
            if isinstance(error, HeitiError):
                error.message = f"flow stage '{stage}': {error.message}"
                raise error
            raise RunFailed(f"flow stage '{stage}' failed: {type(error).__name__}: {error}") from error
        if failures:
            raise failures[0]
        return statistics

    def _run_threads(self) -> dict[str, Any]:
        queues = [queue.Queue(self.queue_size) for _ in self.transforms]
        sink_queues = self._sink_queues = [queue.Queue(self.queue_size) for _ in self.sinks]
        stats = [StageStatistics(f"source {self.source.name}", "source")]
        threads = []
        first_out = [queues[0]] if queues else sink_queues
        threads.append(threading.Thread(target=self._guard, name="source", daemon=True,
                                        args=(stats[0].name, self._source, stats[0], first_out)))
        for i, (label, transform) in enumerate(self.transforms):
            outs = [queues[i + 1]] if i + 1 < len(queues) else sink_queues
            stats.append(StageStatistics(label, "transform"))
            threads.append(threading.Thread(target=self._guard, name=label, daemon=True, args=(
                label, self._transform, stats[-1], transform, queues[i], outs)))
        for (label, sink), inbox in zip(self.sinks, sink_queues, strict=True):
            stats.append(StageStatistics(label, "sink"))
            threads.append(threading.Thread(target=self._guard, name=label, daemon=True,
                                            args=(label, self._sink, stats[-1], sink, inbox)))
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                thread.join()
        except BaseException:  # Ctrl-C: stop every stage; closing the source ends a blocked read
            self._stop.set()
            self.source.close()
            for thread in threads:
                thread.join(timeout=2 * _POLL_S)
            raise
        wall = time.perf_counter() - started
        produced = stats[0].items_out
        media = self.source.media_seconds_per_item
        return {"flow": self.name, "wall_s": wall, "items": produced,
                "media_s": produced * media if media else None,
                "real_time_factor": wall / (produced * media) if media and produced else None,
                "queue_size": self.queue_size, "stages": [s.summary(wall) for s in stats]}

    def _guard(self, label: str, body: Callable[..., None], *args: Any) -> None:
        try:
            body(*args)
        except _Stopped:
            pass
        except BaseException as exc:  # reported by run(); the other stages stop
            self._errors.append((label, exc))
            self._stop.set()

    def _source(self, stats: StageStatistics, outs: list[queue.Queue]) -> None:
        items: Iterator[Item] = self.source.items()
        while not self._stop.is_set():
            started = time.perf_counter()
            item = next(items, None)
            if item is None:
                break
            stats.record(time.perf_counter() - started)
            stats.items_out += 1
            self._put(outs, item, stats)
        self._put(outs, _END, stats)

    def _transform(self, stats: StageStatistics, transform: Transform, inbox: queue.Queue,
                   outs: list[queue.Queue]) -> None:
        while (item := self._get(inbox, stats)) is not _END:
            stats.items_in += 1
            started = time.perf_counter()
            produced = list(transform.process(item))
            stats.record(time.perf_counter() - started)
            for out in produced:
                stats.items_out += 1
                self._put(outs, out, stats)
        self._put(outs, _END, stats)

    def _sink(self, stats: StageStatistics, sink: Sink, inbox: queue.Queue) -> None:
        while (item := self._get(inbox, stats)) is not _END:
            stats.items_in += 1
            started = time.perf_counter()
            sink.write(item)
            stats.record(time.perf_counter() - started)

    def _put(self, outs: list[queue.Queue], item: Any, stats: StageStatistics) -> None:
        if item is not _END and outs is self._sink_queues and not item.results:
            return  # sinks publish results; an item without any has nothing to say
        started = time.perf_counter()
        for out in outs:
            while True:
                if self._stop.is_set():
                    raise _Stopped
                try:
                    out.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
        stats.blocked_s += time.perf_counter() - started

    def _get(self, inbox: queue.Queue, stats: StageStatistics) -> Any:
        stats.max_queued = max(stats.max_queued, inbox.qsize())
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return inbox.get(timeout=_POLL_S)
            except queue.Empty:
                continue
