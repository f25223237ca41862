"""How exactly heiti micro's C engine reproduces other int8 engines (docs/micro.md).

- tflite scheme: int8 .tflite files from litert-convert (the demo tiny-cnn, a
  MobileNetV2-style network with residual adds and a global-average-pool head, a DS-CNN
  keyword-spotting-style network), imported with micro-import-tflite, against TensorFlow
  Lite Micro's reference kernels given the same int8 input.
- QDQ ONNX (tflite-single scheme): the same PyTorch networks exported to float ONNX,
  quantized by ort-quantize (asymmetric and symmetric activations), imported with
  micro-import-onnx, against ONNX Runtime running the QDQ model; for comparison the same
  import requantized with TFLite's double rounding (tflite scheme).

Every figure is over the whole digits test split (359 samples).

    python benchmarks/micro_agreement.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from _common import print_table
from heiti.cli import main as heiti_main
from heiti.core.artifact import Artifact, Provenance
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.frameworks.torch_tools import load_module
from heiti.micro import golden
from heiti.micro.build import HostModel, host_library
from heiti.micro.codegen import generate
from heiti.micro.graph import Graph, raw_input
from heiti.micro.onnx_import import import_onnx
from heiti.micro.quantize import to_integer
from heiti.optimizers.litert_convert import LitertConvert
from heiti.optimizers.micro_import_tflite import MicroImportTflite
from heiti.optimizers.ort_quantize import OrtQuantize

ROOT = Path(__file__).resolve().parents[1]
ZOO = {"mobilenet-v2": {"width": 0.25, "depth": 0.34, "stages": 4, "last_channels": 32},
       "ds-cnn": {"channels": 16, "blocks": 2}}


def _train(name: str, params: dict, folder: Path) -> Artifact:
    scenario = folder / f"{name}.yml"
    scenario.write_text(f"name: {name}\nbuild_dir: b\ndataset: {{type: digits, parameters: {{seed: 0}}}}\n"
                        f"model: {{type: {name}, parameters: {params}, path: {name}/model.pt, "
                        "train: {epochs: 8, lr: 0.003, batch_size: 32}}\nruntime: {type: torch}\n",
                        encoding="utf-8")
    heiti_main(["train", str(scenario)])
    return Artifact.load(folder / name / "model.pt")


def _c(graph: Graph, folder: Path, raw: np.ndarray) -> np.ndarray:
    generate(graph, folder)
    return HostModel(host_library(folder), raw[0].size, graph.tensors[graph.output].size).predict(raw)


def main() -> None:
    from tflite_micro.python.tflite_micro import runtime as tflm

    demo = ROOT / "build" / "digits-model" / "model.pt"
    if not demo.exists():
        heiti_main(["train", str(ROOT / "examples" / "digits" / "digits-micro.yml")])
    dataset = Digits({"seed": 0})
    test = dataset.split("test")
    tflite_rows, qdq_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ctx = StepContext(dataset=dataset, build_dir=folder, log=lambda m: None)
        models = {"tiny-cnn (demo)": Artifact.load(demo)}
        models |= {name: _train(name, params, folder) for name, params in ZOO.items()}
        for k, (name, model) in enumerate(models.items()):
            converted = LitertConvert({"quantization": "int8"}).optimize(model, folder / f"{k}.tflite", ctx)
            converted.save()
            graph = Graph.load(MicroImportTflite().optimize(converted, folder / f"{k}.npz", ctx).path)
            raw = raw_input(test.x, graph.input_scale)
            c = _c(graph, folder / f"c{k}", raw)
            interpreter = tflm.Interpreter.from_file(str(converted.path))
            reference = []
            for q in golden.run_all(graph, raw)[graph.ops[0].output].astype(np.int8):
                interpreter.set_input(q[None], 0)
                interpreter.invoke()
                reference.append(interpreter.get_output(0)[0].copy())
            reference = np.array(reference).reshape(c.shape)
            equal = c == reference
            tflite_rows.append((name, len(graph.ops), float(equal.mean()), float(equal.all(axis=1).mean()),
                                float(np.mean(c.argmax(1) == test.truth))))
            if name not in ZOO:
                continue
            onnx_path = folder / f"{k}.onnx"
            torch.onnx.export(load_module(model).eval(), torch.zeros(1, 1, 8, 8), str(onnx_path),
                              dynamo=False, input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
            io = model.io.model_copy(deep=True)
            io.inputs[0].name = "x"
            floats = Artifact(path=onnx_path, format="onnx", io=io,
                              provenance=Provenance(producer="benchmark"))
            for symmetric in (False, True):
                qdq = OrtQuantize({"symmetric_activations": symmetric}).optimize(
                    floats, folder / f"{k}-{symmetric}.qdq.onnx", ctx)
                session = ort.InferenceSession(str(qdq.path), providers=["CPUExecutionProvider"])
                logits = session.run(None, {"x": test.x})[0]
                imported, scales = import_onnx(qdq.path, 1 / 16)
                for scheme in ("tflite-single", "tflite"):
                    graph = to_integer(imported, {}, scheme, given=scales)
                    c = _c(graph, folder / f"q{k}{symmetric}{scheme}", raw).astype(np.int64)
                    units = np.rint(logits / graph.output_scale).astype(np.int64)
                    units += graph.output_zero_point
                    qdq_rows.append((name, "symmetric" if symmetric else "asymmetric", scheme,
                                     float(np.mean(c == units)), float(np.mean(np.abs(c - units) <= 1)),
                                     float(np.mean(c.argmax(1) == logits.argmax(1)))))
    print_table([".tflite model", "operators", "values equal to TFLM", "samples equal", "test accuracy"],
                tflite_rows)
    print()
    print_table(["QDQ model", "activations", "heiti scheme", "values equal to ORT", "within ±1",
                 "top-1 agreement"], qdq_rows)


if __name__ == "__main__":
    main()
