"""The inference loop: feeds samples to a runtime and times only the runtime call."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from heiti.core.steps import Runtime
from heiti.pipeline.progress import Progress


@dataclass
class LoopResult:
    outputs: dict[str, np.ndarray]  # every model output by name, concatenated over batches
    latencies_ns: np.ndarray    # one per batch: time spent inside Runtime.infer
    offsets_s: np.ndarray       # start of each timed call, relative to the loop's start
    wall_s: float
    batch_size: int
    samples: int                # distinct samples; quality is computed on these
    passes: int = 1             # timed passes over the samples (see min_duration_s)
    target_latencies_ns: np.ndarray | None = None  # measured by a remote target itself


def run_inference(runtime: Runtime, inputs: dict[str, np.ndarray], batch_size: int = 1,
                  warmup: int = 10, show_progress: bool = True,
                  min_duration_s: float = 0.0) -> LoopResult:
    """Time every batch of the named ``inputs``; repeat whole passes until
    ``min_duration_s`` has passed.

    Repeating lets short runs yield stable statistics and enough resource samples;
    outputs (hence quality) come from the first pass.
    """
    samples = len(next(iter(inputs.values())))
    batches = [{name: a[i : i + batch_size] for name, a in inputs.items()}
               for i in range(0, samples, batch_size)]
    for i in range(warmup):
        runtime.infer(runtime.prepare(batches[i % len(batches)]))

    count = len(batches)
    clock = time.perf_counter_ns
    loop_start = clock()
    raw, latencies, offsets = _timed_pass(runtime, batches, loop_start, show_progress)
    passes = [(latencies, offsets)]
    while (clock() - loop_start) / 1e9 < min_duration_s:
        passes.append(_timed_pass(runtime, batches, loop_start, False)[1:])
    wall_s = (clock() - loop_start) / 1e9

    named = [runtime.outputs(r) for r in raw]
    outputs = {name: np.concatenate([n[name] for n in named]) for name in named[0]}
    all_latencies = np.concatenate([p[0] for p in passes])
    all_offsets = np.concatenate([p[1] for p in passes])
    target = getattr(runtime, "target_latencies_ns", None)
    timed = count * len(passes)
    return LoopResult(outputs, all_latencies, all_offsets / 1e9, wall_s, batch_size, samples,
                      len(passes),
                      None if target is None else np.asarray(target[-timed:], dtype=np.int64))


def _timed_pass(runtime: Runtime, batches: list[dict[str, np.ndarray]], loop_start: int,
                show_progress: bool) -> tuple[list[Any], np.ndarray, np.ndarray]:
    count = len(batches)
    latencies = np.empty(count, dtype=np.int64)
    offsets = np.empty(count, dtype=np.int64)
    raw: list[Any] = [None] * count
    clock = time.perf_counter_ns
    infer = runtime.infer
    # a pipelined runtime (a remote target) gets each input one call early, so the target
    # finds the next request waiting instead of idling on the link; other runtimes prepare
    # after each call, since some keep state in prepare (e.g. LiteRT resizes its input)
    ahead = runtime.send_ahead if runtime.pipelined else None
    with Progress(count, "inference") if show_progress else contextlib.nullcontext() as progress:
        prepared = runtime.prepare(batches[0])
        if ahead:
            ahead(prepared)
        for i in range(count):
            following = runtime.prepare(batches[i + 1]) if ahead and i + 1 < count else None
            start = clock()
            if following is not None and ahead is not None:
                ahead(following)
            raw[i] = infer(prepared)
            latencies[i] = clock() - start
            offsets[i] = start - loop_start
            if progress is not None and (i & 63) == 0:
                progress.update(min(64, count - i))
            if i + 1 < count:
                prepared = following if ahead else runtime.prepare(batches[i + 1])
    return raw, latencies, offsets


def latency_statistics(latencies_ns: np.ndarray) -> dict[str, float]:
    ms = latencies_ns / 1e6
    return {
        "mean": float(ms.mean()), "std": float(ms.std()), "min": float(ms.min()),
        "max": float(ms.max()), "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)), "p99": float(np.percentile(ms, 99)),
    }
