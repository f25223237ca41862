"""Does `heiti benchmark` (synthetic inputs, no scenario) time a model as `heiti test` does?

The demo network as ONNX, timed in one process through `heiti benchmark`'s code
(``heiti.pipeline.benchmark``: random inputs of the model's IO specification) and through the
loop `heiti test` runs (``run_inference`` on the digits test inputs), one intra-op thread,
batch 1. Repeats alternate; the figure is the ratio of the medians over repeats of each
repeat's median latency.

    python benchmarks/bare_benchmark.py [--iterations 2000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import digits_inputs, export_tiny_cnn, median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    import onnxruntime as ort

    from heiti.pipeline import benchmark
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.onnxruntime_runtime import OnnxRuntime

    with tempfile.TemporaryDirectory() as tmp:
        model = benchmark.load_model_file(export_tiny_cnn(Path(tmp) / "tiny.onnx"))
        x = digits_inputs(args.iterations)
        bare, tested = [], []
        for _ in range(args.repeats):
            result = benchmark.benchmark(model, OnnxRuntime({"threads": 1}), "random",
                                         args.iterations, warmup=50)
            bare.append(median(result.latencies_ns) / 1e3)
            runtime = OnnxRuntime({"threads": 1})
            runtime.load(model)
            loop = run_inference(runtime, {"input": x}, batch_size=1, warmup=50, show_progress=False)
            runtime.close()
            tested.append(median(loop.latencies_ns) / 1e3)
    print(f"model: tiny-cnn [32, 64]/128 (ONNX, fp32), {args.iterations} calls x {args.repeats} "
          f"repeats, onnxruntime {ort.__version__}, 1 thread, batch 1")
    print("| timed by | inputs | median latency (µs) | spread of repeat medians (µs) |")
    print("|---|---|---|---|")
    print(f"| heiti benchmark | random, from the IO specification | {median(bare):.2f} | "
          f"{min(bare):.2f}–{max(bare):.2f} |")
    print(f"| heiti test's loop | digits test inputs | {median(tested):.2f} | "
          f"{min(tested):.2f}–{max(tested):.2f} |")
    print(f"\nbenchmark / test = {median(bare) / median(tested):.3f}")


if __name__ == "__main__":
    main()
