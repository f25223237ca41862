"""What does running a model as a flow (one thread per stage, bounded queues) cost?

The demo network (tiny-cnn [32, 64]/128, ONNX fp32, onnxruntime, one thread) classifies
the same digits inputs one at a time, with the same postprocessing (softmax, top class),
(a) as a flow: source -> model stage -> top-class -> sink, each in its own thread, and
(b) in a bare loop in one thread doing the same calls. Repeats alternate; the figure is
the ratio of the median throughputs.

    python benchmarks/flow_throughput.py [--items 3000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import digits_inputs, export_tiny_cnn, median
from heiti.flows.stage import Item, Sink, Source


class Arrays(Source):
    """The benchmark's inputs as items (not registered)."""

    name = "arrays"

    def __init__(self, x: np.ndarray):
        super().__init__()
        self.x = x

    def items(self):
        for i in range(len(self.x)):
            yield Item(i, "digits", tensors={"input": self.x[i : i + 1]})


class Count(Sink):
    name = "count"

    def __init__(self):
        super().__init__()
        self.count = 0

    def write(self, item: Item) -> None:
        self.count += len(item.results)


def as_flow(artifact, x: np.ndarray, queue_size: int) -> float:
    from heiti.flows.engine import FlowRunner
    from heiti.flows.model import ModelStage
    from heiti.flows.transforms.top_class import TopClass
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime
    from heiti.targets.local import Local

    sink = Count()
    stages = [("model", ModelStage(artifact, OnnxRuntime({"threads": 1}), Local())), ("top", TopClass())]
    statistics = FlowRunner("bench", Arrays(x), stages, [("count", sink)], queue_size).run()
    assert sink.count == len(x)
    return len(x) / statistics["wall_s"]


def bare(artifact, x: np.ndarray) -> float:
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime

    runtime = OnnxRuntime({"threads": 1})
    runtime.load(artifact)
    labels = []
    started = time.perf_counter()
    for i in range(len(x)):
        logits = runtime.outputs(runtime.infer(runtime.prepare({"input": x[i : i + 1]})))["logits"][0]
        scores = np.exp(logits - logits.max())
        scores /= scores.sum()
        labels.append({"label": int(scores.argmax()), "score": float(scores.max())})
    wall = time.perf_counter() - started
    runtime.close()
    return len(x) / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--queue-size", type=int, default=8)
    args = parser.parse_args()
    from heiti.core.artifact import Artifact

    with tempfile.TemporaryDirectory() as folder:
        artifact = Artifact.load(export_tiny_cnn(Path(folder) / "tiny.onnx"))
        x = digits_inputs(args.items)
        as_flow(artifact, x[:200], args.queue_size)  # warm up both paths
        bare(artifact, x[:200])
        flows, loops = [], []
        for _ in range(args.repeats):
            flows.append(as_flow(artifact, x, args.queue_size))
            loops.append(bare(artifact, x))
    print(f"{'path':<28} {'median items/s':>15} {'spread':>21}")
    for name, values in (("bare loop, one thread", loops), ("flow, thread per stage", flows)):
        print(f"{name:<28} {median(values):>15.0f} {min(values):>10.0f}–{max(values):<10.0f}")
    print(f"flow / bare throughput = {median(flows) / median(loops):.3f}")


if __name__ == "__main__":
    main()
