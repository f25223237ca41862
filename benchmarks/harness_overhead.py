"""How much does heiti's inference loop add to what it measures?

The same ONNX model and inputs are timed, in one process, through heiti's inference
loop (OnnxRuntime runtime + run_inference) and through a bare loop calling
InferenceSession.run. Repeats alternate between the two; the figure is the ratio of the
median per-sample latencies (median over repeats of each repeat's median).

    python benchmarks/harness_overhead.py [--samples 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import digits_inputs, export_tiny_cnn, median


def bare_loop(session, x: np.ndarray, warmup: int) -> np.ndarray:
    name = session.get_inputs()[0].name
    outputs = [o.name for o in session.get_outputs()]
    for i in range(warmup):
        session.run(outputs, {name: x[i : i + 1]})
    latencies = np.empty(len(x), dtype=np.int64)
    for i in range(len(x)):
        feed = {name: x[i : i + 1]}
        start = time.perf_counter_ns()
        session.run(outputs, feed)
        latencies[i] = time.perf_counter_ns() - start
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import onnxruntime as ort

    from heiti.core.artifact import Artifact
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime

    with tempfile.TemporaryDirectory() as tmp:
        model_path = export_tiny_cnn(Path(tmp) / "tiny.onnx")
        x = digits_inputs(args.samples)
        runtime = OnnxRuntime({"threads": 1})
        spec = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8])],
                      outputs=[TensorSpec(name="logits", shape=[-1, 10])])
        runtime.load(Artifact(path=model_path, format="onnx", io=spec, provenance={"producer": "b"}))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])

        bare, heiti = [], []
        for _ in range(args.repeats):
            bare.append(median(bare_loop(session, x, warmup=50)) / 1e3)
            loop = run_inference(runtime, {"input": x}, batch_size=1, warmup=50, show_progress=False)
            heiti.append(median(loop.latencies_ns) / 1e3)
    ratio = median(heiti) / median(bare)
    print(f"model: tiny-cnn [32, 64]/128 (ONNX, fp32), {args.samples} samples x {args.repeats} repeats, "
          f"onnxruntime {ort.__version__}, 1 thread")
    print("| loop | median per-sample latency (µs) | spread of repeat medians (µs) |")
    print("|---|---|---|")
    print(f"| bare InferenceSession.run | {median(bare):.2f} | {min(bare):.2f}–{max(bare):.2f} |")
    print(f"| heiti inference loop | {median(heiti):.2f} | {min(heiti):.2f}–{max(heiti):.2f} |")
    print(f"\nheiti / bare = {ratio:.3f}")


if __name__ == "__main__":
    main()
