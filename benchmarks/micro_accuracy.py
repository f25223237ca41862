"""fp32 versus heiti micro's int8 variants of the demo model (docs/micro.md's table).

The demo network (tiny-cnn [32, 64]/128, trained by examples/digits/digits-micro.yml
when build/digits-model/model.pt is missing) is quantized six ways: PTQ and QAT each in
the power-of-two, per-channel and tflite schemes. Each integer graph is run by the generated C on this
host over the whole test set (and checked bit-exact against the golden model);
accuracy, constant bytes, arena bytes and the Cortex-M4 flash/RAM are printed.

    python benchmarks/micro_accuracy.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from _common import print_table
from heiti.cli import main as heiti_main
from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.frameworks.torch_tools import load_module, parameter_count
from heiti.frameworks.torch_training import evaluate_split
from heiti.micro import golden
from heiti.micro.build import HostModel, cortex_m4_report, host_library
from heiti.micro.codegen import generate
from heiti.micro.graph import Graph, raw_input
from heiti.optimizers.micro_ptq import MicroPtq
from heiti.optimizers.micro_qat import MicroQat

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "build" / "digits-model" / "model.pt"


def main() -> None:
    if not MODEL.exists():
        heiti_main(["train", str(ROOT / "examples" / "digits" / "digits-micro.yml")])
    model = Artifact.load(MODEL)
    dataset = Digits({"seed": 0})
    test = dataset.split("test")
    module = load_module(model)
    fp32 = evaluate_split(module, test, dataset.task, [spec.name for spec in model.io.outputs])[1]
    rows = [("fp32 (PyTorch)", fp32, parameter_count(module) * 4, "", "", "")]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = StepContext(dataset=dataset, build_dir=Path(tmp), seed=0, log=lambda m: None)
        variants = [("int8 pow2 PTQ", MicroPtq({"scheme": "pow2"})), ("int8 pow2 QAT", MicroQat()),
                    ("int8 per-channel PTQ", MicroPtq({"scheme": "per-channel"})),
                    ("int8 per-channel QAT", MicroQat({"scheme": "per-channel"})),
                    ("int8 tflite PTQ", MicroPtq({"scheme": "tflite"})),
                    ("int8 tflite QAT", MicroQat({"scheme": "tflite"}))]
        for label, step in variants:
            started = time.perf_counter()
            graph = Graph.load(step.optimize(model, Path(tmp) / f"{step.name}.npz", ctx).path)
            seconds = time.perf_counter() - started
            folder = Path(tmp) / label.replace(" ", "-")
            plan = generate(graph, folder)
            raw = raw_input(test.x, graph.input_scale)
            c = HostModel(host_library(folder), raw[0].size, graph.tensors[graph.output].size).predict(raw)
            assert np.array_equal(c, golden.predict(graph, raw)), f"{label}: C differs from golden"
            m4 = cortex_m4_report(folder)
            flash_ram = (f"{m4['flash_bytes']} / {m4['ram_bytes']}" if "flash_bytes" in m4 else "n/a")
            rows.append((label, float((c.argmax(1) == test.truth).mean()), graph.weight_bytes(),
                         plan.arena_bytes, flash_ram, f"{seconds:.1f}"))
    print_table(["model", "test accuracy", "weights (B)", "arena (B)", "Cortex-M4 flash / RAM (B)",
                 "quantize (s)"], rows)


if __name__ == "__main__":
    main()
