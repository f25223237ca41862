"""Latency of every installed inference backend against PyTorch eager, in one run.

A MobileNetV2-style network (seeded, untrained: timing does not depend on the weights)
at 3x64x64 input, batch 1, float32. Each installed runtime that can take the model gets
it through the shortest float32 chain of default-parameter optimizers from PyTorch or
ONNX, found through the registry, so backends added later are measured without changing this file.
All runtimes run the same inputs; in each round every runtime loads the model and times
it in a fresh process (in rotating order), so that libraries and thread pools of other
backends cannot disturb it; a backend's figure is the median over rounds of each
round's median latency. Run with one thread and with
all cores.

    python benchmarks/backend_latency.py [--samples 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import types
from collections import deque
from pathlib import Path

import numpy as np

from _common import export_zoo_model, median

INPUT_SHAPE = (3, 64, 64)
NUM_CLASSES = 10
NOT_FP32 = ("int8", "fp16", "cross")  # formats whose names say they are not plain float32


def find_chain(start: str, runtime_formats: tuple[str, ...], optimizers: dict) -> list[str] | None:
    """Shortest list of optimizer names turning ``start`` into a format the runtime runs."""
    queue, seen = deque([(start, [])]), {start}
    while queue:
        fmt, chain = queue.popleft()
        if fmt in runtime_formats:
            return chain
        for name, cls in sorted(optimizers.items()):
            out = cls.output_format
            if fmt in cls.input_formats and out and out not in seen and not cls.missing_modules() \
                    and not any(tag in out for tag in NOT_FP32):
                seen.add(out)
                queue.append((out, [*chain, name]))
    return None


def prepare_backends(torch_model, onnx_model, folder: Path, dataset):
    """{runtime name: (runtime class, final artifact, chain)} plus the ones that failed."""
    from heiti import registry
    from heiti.core.steps import StepContext

    components = registry.components()
    ctx = StepContext(dataset=dataset, build_dir=folder, log=lambda m: None)
    ready, failed = {}, {}
    for name, cls in sorted(components["runtime"].items()):
        if cls.missing_modules():
            continue
        chains = [(chain, start) for start in (torch_model, onnx_model)
                  if (chain := find_chain(start.format, cls.formats, components["optimizer"]))
                  is not None]
        if not chains:
            failed[name] = f"no float32 chain from torch or onnx to {'|'.join(cls.formats)}"
            continue
        chain, start = min(chains, key=lambda found: len(found[0]))
        artifact = start
        try:
            for i, step in enumerate(chain):
                optimizer = components["optimizer"][step]()
                output = folder / f"{name}-{i}-{step}{optimizer.file_suffix}"
                result = optimizer.optimize(artifact, output, ctx)
                result.format = optimizer.output_format_for(artifact.format)
                artifact = result.save()
        except Exception as exc:  # a backend that cannot take the model is reported, not fatal
            failed[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            continue
        ready[name] = (cls, artifact, [start.format, *chain])
    return ready, failed


def load(cls, artifact, threads: int):
    params = {"threads": threads} if "threads" in cls.Params.model_fields else {}
    runtime = cls(params)
    runtime.load(artifact)
    return runtime


def time_runs(runtime, inputs: np.ndarray) -> float:
    name = runtime.io.inputs[0].name
    prepared = [runtime.prepare({name: inputs[i : i + 1]}) for i in range(len(inputs))]
    for p in prepared[:10]:
        runtime.infer(p)
    latencies = []
    for p in prepared:
        start = time.perf_counter_ns()
        runtime.infer(p)
        latencies.append(time.perf_counter_ns() - start)
    return median(latencies) / 1e6


def images(samples: int) -> np.ndarray:
    return np.random.default_rng(0).random((max(samples, 16),) + INPUT_SHAPE, dtype=np.float32)


def child(name: str, path: str, threads: str, samples: str) -> None:
    """One timed pass of one runtime, in a process of its own: libraries and thread pools
    that other backends load (OpenMP, TBB, JAX, ...) cannot disturb it."""
    from heiti import registry
    from heiti.core.artifact import Artifact

    runtime = load(registry.get("runtime", name), Artifact.load(Path(path)), int(threads))
    print(f"MEDIAN_MS {time_runs(runtime, images(int(samples))[: int(samples)])}")


def measure(backends: dict, samples: int, threads: int, rounds: int) -> dict[str, float]:
    """Median over rounds of each backend's round median; every pass runs in a fresh
    process, in rotating order."""
    per_round: dict[str, list[float]] = {name: [] for name in backends}
    names = list(backends)
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            _, artifact, _ = backends[name]
            command = [sys.executable, os.path.abspath(__file__), "--child", name,
                       str(artifact.path), str(threads), str(samples)]
            result = subprocess.run(command, capture_output=True, text=True, timeout=900)
            found = [line for line in result.stdout.splitlines() if line.startswith("MEDIAN_MS ")]
            if result.returncode or not found:
                print(f"{name} ({threads} threads) failed: {result.stderr.strip()[-300:]}")
                continue
            per_round[name].append(float(found[-1].split()[1]))
    return {name: median(values) if values else float("nan") for name, values in per_round.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100, help="timed inferences per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    from heiti.frameworks.native import package_versions
    from heiti.models.mobilenet_v2 import MobileNetV2

    examples = images(2)
    dataset = types.SimpleNamespace(split=lambda name: types.SimpleNamespace(x=examples[:2]))
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        model = MobileNetV2()
        torch_model, onnx_model = export_zoo_model(model, INPUT_SHAPE, NUM_CLASSES,
                                                   Path(tmp) / "mobilenet.onnx", dataset)
        backends, failed = prepare_backends(torch_model, onnx_model, Path(tmp), dataset)
        if "torch" not in backends:
            raise SystemExit("the PyTorch baseline (runtime 'torch') is not available")
        results = {t: measure(backends, args.samples, t, args.rounds)
                   for t in sorted({1, cores})}

    versions = {}
    for package in ("torch", "onnxruntime", "apache-tvm", "openvino", "iree-base-runtime",
                    "ai-edge-litert", "executorch"):
        try:
            versions.update(package_versions(package))
        except Exception:
            pass
    print(f"model: mobilenet-v2 {model.params.model_dump()}, input {'x'.join(map(str, INPUT_SHAPE))}, "
          f"batch 1, float32; {args.samples} inferences x {args.rounds} rounds; {cores} cores")
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print("load average at the end (1/5/15 min): " + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    threads = sorted(results)
    header = " | ".join(f"{t} thread{'s' if t > 1 else ''}: median ms | speed-up vs PyTorch"
                        for t in threads)
    print(f"\n| backend | chain | {header} |")
    print("|---|---|" + "---|---|" * len(threads))
    for name, (_, _, chain) in sorted(backends.items(), key=lambda kv: kv[0] != "torch"):
        cells = []
        for t in threads:
            ms, base = results[t].get(name, float("nan")), results[t]["torch"]
            cells += [f"{ms:.3f}", f"{base / ms:.2f}×" if ms == ms else "failed"]
        shown = "(PyTorch eager, baseline)" if name == "torch" else " → ".join(chain)
        print(f"| {name} | {shown} | " + " | ".join(cells) + " |")
    for name, reason in failed.items():
        print(f"| {name} | not measured: {reason} |" + " |" * (2 * len(threads)))


if __name__ == "__main__":
    main()
