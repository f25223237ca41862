"""heiti micro speaks TFLite: int8 .tflite models from litert-convert (the digits CNN, a
MobileNetV2-style network with a global-average-pool head and residual adds, a
depthwise-separable keyword-spotting-style network) imported into the tflite scheme give
TensorFlow Lite Micro's int8 outputs bit for bit on every test sample; float ONNX models
with the same heads, quantized to QDQ by ONNX Runtime, import within one unit of ONNX
Runtime's outputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from backend_helpers import step
from conftest import DIGITS_MODEL, measure, scenario_dict, write_scenario
from heiti.cli import main as heiti_main
from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.errors import InputError
from heiti.micro import golden
from heiti.micro.build import HostModel, host_library
from heiti.micro.codegen import generate
from heiti.micro.graph import Graph, raw_input

pytest.importorskip("torch")
pytest.importorskip("tflite_micro", reason='tflite-micro not installed: pip install "heiti[tflm]"')

# small enough to train in seconds; the structure is what matters here
ZOO = {
    "mobilenet-v2": {"width": 0.25, "depth": 0.34, "stages": 4, "last_channels": 32},
    "ds-cnn": {"channels": 16, "blocks": 2},
}


@pytest.fixture(scope="module")
def env(tmp_path_factory, trained_model_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("micro-cache")))
    folder = tmp_path_factory.mktemp("tflite")
    models = {"tiny-cnn": Artifact.load(trained_model_dir / "model" / "model.pt")}
    for name, params in ZOO.items():
        spec = {"type": name, "parameters": params, "path": f"{name}/model.pt",
                "train": dict(DIGITS_MODEL["train"], epochs=2)}
        scenario = write_scenario(folder, scenario_dict(model=spec), f"{name}.yml")
        assert heiti_main(["train", str(scenario)]) == 0
        models[name] = Artifact.load(folder / name / "model.pt")
    ctx = StepContext(dataset=Digits(), build_dir=folder, log=lambda m: None)
    yield models, ctx
    mp.undo()


@pytest.fixture(scope="module")
def tflite_models(env):
    pytest.importorskip("litert_torch", reason='pip install "heiti[litert-convert]" for litert-torch')
    from heiti.optimizers.litert_convert import LitertConvert

    models, ctx = env
    convert = LitertConvert({"quantization": "int8", "calibration_samples": 64})
    return {name: step(convert, model, ctx.build_dir / f"{name}.tflite", ctx)
            for name, model in models.items()}


def _c_engine(graph: Graph, folder: Path, raw: np.ndarray) -> np.ndarray:
    generate(graph, folder)
    return HostModel(host_library(folder), raw[0].size, graph.tensors[graph.output].size).predict(raw)


@pytest.mark.parametrize("name", ["tiny-cnn", "mobilenet-v2", "ds-cnn"])
def test_c_engine_equals_tflm_bit_for_bit_on_every_test_sample(env, tflite_models, name):
    from heiti.optimizers.micro_import_tflite import MicroImportTflite
    from heiti.runtimes.tflm_runtime import TflmRuntime

    _, ctx = env
    test = ctx.dataset.split("test")
    imported = step(MicroImportTflite(), tflite_models[name], ctx.build_dir / f"{name}.npz", ctx)
    graph = Graph.load(imported.path)
    assert graph.scheme == "tflite"
    raw = graph.quantize_input(test.x)  # the model's own int8 input, with its zero point
    assert raw.dtype == np.int8 and graph.tensors[graph.input].zero_point != 0
    c = _c_engine(graph, ctx.build_dir / f"{name}-c", raw)
    assert np.array_equal(c, golden.predict(graph, raw))
    tflm = TflmRuntime()
    tflm.load(tflite_models[name])
    quantized = tflm.io.inputs[0].quantize(test.x)  # the integers TFLM is given: the same bytes
    assert np.array_equal(quantized.reshape(len(raw), -1), raw.reshape(len(raw), -1))
    outputs = tflm.outputs(tflm.infer(tflm.prepare({"x": quantized})))
    reference = outputs[tflm.io.outputs[0].name].reshape(c.shape)
    assert np.array_equal(c, reference)
    assert len(np.unique(c)) > 20  # real outputs, not a saturated constant
    if name != "tiny-cnn":
        assert "avgpool" in [op.kind for op in graph.ops]  # the global-average-pool head
    if all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc")):  # and on a Cortex-M4
        assert np.array_equal(_on_board(imported, ctx, raw), reference)


def _on_board(imported: Artifact, ctx: StepContext, raw: np.ndarray) -> np.ndarray:
    """The imported graph's firmware (DSP kernels) on the emulated mps2-an386 board."""
    from heiti.optimizers.micro_c import MicroC
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    c_model = step(MicroC({"check_samples": 0, "cortex_m4": False}), imported,
                   imported.path.with_suffix(".c"), ctx)
    executor = Qemu({"board": "mps2-an386"}).open(MicroHost(), c_model)
    try:
        loop = run_inference(executor, {c_model.io.inputs[0].name: raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    return loop.outputs[c_model.io.outputs[0].name]


def test_tflite_chain_and_tflm_runtime_through_the_cli(workdir, tflite_models):
    model = {"type": "tflite-file", "path": str(tflite_models["mobilenet-v2"].path)}
    chain = [{"type": "micro-import-tflite"}, {"type": "micro-c", "parameters": {"cortex_m4": False}}]
    micro = measure(workdir, "tfl-micro", chain, {"type": "micro-host"}, model=model)
    tflm = measure(workdir, "tfl-tflm", [], {"type": "tflm"}, model=model)
    assert micro["quality"]["predictions"] == tflm["quality"]["predictions"]
    assert micro["quality"]["metrics"]["accuracy"] == tflm["quality"]["metrics"]["accuracy"] > 0.5


def test_unsupported_tflite_operator_is_rejected_naming_it(tflite_models, tmp_path):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    from heiti.micro.tflite_import import import_tflite

    data = bytearray(tflite_models["tiny-cnn"].path.read_bytes())
    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.OperatorCodesLength()):  # turn FULLY_CONNECTED into EXP (not supported) in place
        code = model.OperatorCodes(i)
        if code.BuiltinCode() == schema.BuiltinOperator.FULLY_CONNECTED:
            for field, size in ((4, 1), (10, 4)):  # deprecated_builtin_code (int8), builtin_code (int32)
                position = code._tab.Pos + code._tab.Offset(field)
                data[position : position + size] = schema.BuiltinOperator.EXP.to_bytes(size, "little")
    (tmp_path / "exp.tflite").write_bytes(bytes(data))
    with pytest.raises(InputError, match="EXP is not supported") as info:
        import_tflite(tmp_path / "exp.tflite", (1, 8, 8))
    assert "CONV_2D" in info.value.hint and "SOFTMAX" in info.value.hint
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer at all")
    with pytest.raises(InputError, match="not a readable .tflite model"):
        import_tflite(tmp_path / "junk.tflite", (1, 8, 8))


@pytest.mark.parametrize("name", ["mobilenet-v2", "ds-cnn"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["asymmetric", "symmetric"])
def test_qdq_onnx_with_gap_head_agrees_with_onnx_runtime(env, name, symmetric):
    """Float ONNX with global average pooling (and residual adds in MobileNetV2), QDQ int8
    by ort-quantize, imported into the tflite-single scheme: C engine vs ONNX Runtime."""
    ort = pytest.importorskip("onnxruntime")
    import torch

    from heiti.core.artifact import Provenance
    from heiti.frameworks.torch_tools import load_module
    from heiti.optimizers.micro_import_onnx import MicroImportOnnx
    from heiti.optimizers.ort_quantize import OrtQuantize

    models, ctx = env
    test = ctx.dataset.split("test")
    path = ctx.build_dir / f"{name}.onnx"
    if not path.exists():  # TorchScript export: plain GlobalAveragePool/Flatten/Gemm nodes
        torch.onnx.export(load_module(models[name]).eval(), torch.zeros(1, 1, 8, 8), str(path), dynamo=False,
                          input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    io = models[name].io.model_copy(deep=True)
    io.inputs[0].name = "x"
    floats = Artifact(path=path, format="onnx", io=io, provenance=Provenance(producer="test")).save()
    qdq = step(OrtQuantize({"symmetric_activations": symmetric}), floats,
               ctx.build_dir / f"{name}-{symmetric}.qdq.onnx", ctx)
    graph = Graph.load(step(MicroImportOnnx(), qdq, ctx.build_dir / f"{name}-{symmetric}.npz", ctx).path)
    assert graph.scheme == "tflite-single" and "avgpool" in [op.kind for op in graph.ops]
    raw = raw_input(test.x, graph.input_scale)
    c = _c_engine(graph, ctx.build_dir / f"{name}-{symmetric}-c", raw).astype(np.int64)
    # With graph optimizations off, ONNX Runtime runs each QDQ group as dequantize -> float
    # operator -> quantize: the model's own definition, the same on every CPU. The fused int8
    # kernels it uses otherwise depend on the CPU (u8 x s8 products saturate without VNNI).
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(qdq.path), options, providers=["CPUExecutionProvider"])
    reference = session.run(None, {"x": test.x})[0]
    ort_units = np.rint(reference / graph.output_scale).astype(np.int64) + graph.output_zero_point
    within_one, top1 = np.mean(np.abs(c - ort_units) <= 1), np.mean(c.argmax(1) == reference.argmax(1))
    print(f"QDQ {name} symmetric={symmetric}: exact {np.mean(c == ort_units):.4f}, "
          f"within +-1 {within_one:.4f}, top-1 agreement {top1:.4f}")
    assert within_one >= 0.999 and top1 >= 0.995


@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
def test_a_handful_of_nhwc_or_nchw_samples_runs_without_calibration_data(workdir, tflite_models, layout):
    """Six samples (too few to split) evaluated with test: {split: all}, stored NCHW or NHWC:
    micro-import-tflite needs no calibration data, binds either layout to the model's input
    and the C engine answers as TFLM does."""
    import json

    test = Digits().split("test")
    x = test.x[:6] if layout == "nchw" else test.x[:6].transpose(0, 2, 3, 1)
    np.savez(workdir / f"few-{layout}.npz", x=x, labels=np.asarray(test.truth)[:6])
    model = {"type": "tflite-file", "path": str(tflite_models["tiny-cnn"].path)}
    dataset = {"type": "npz-arrays", "parameters": {"path": f"few-{layout}.npz",
                                                    "class_names": [str(i) for i in range(10)]}}
    chain = [{"type": "micro-import-tflite"}, {"type": "micro-c", "parameters": {"cortex_m4": False}}]
    data = scenario_dict(f"few-{layout}", build_dir=f"b/few-{layout}", dataset=dataset, model=model,
                         optimizers=chain, runtime={"type": "micro-host"}, report={"enabled": False},
                         test={"warmup": 0, "split": "all"})
    assert heiti_main(["run", str(write_scenario(workdir, data, f"few-{layout}.yml"))]) == 0
    found = json.loads((workdir / "b" / f"few-{layout}" / "measurements.json").read_text())
    assert found["quality"]["samples"] == 6
    from heiti.runtimes.tflm_runtime import TflmRuntime

    tflm = TflmRuntime()
    tflm.load(tflite_models["tiny-cnn"])
    q = tflm.io.inputs[0].quantize(test.x[:6])
    want = tflm.outputs(tflm.infer(tflm.prepare({"x": q})))[tflm.io.outputs[0].name].argmax(1)
    assert [int(p) for p in found["quality"]["predictions"]] == want.tolist()


def test_samples_in_neither_layout_are_refused_naming_both(tflite_models):
    from heiti.micro.tflite_import import import_tflite

    with pytest.raises(InputError, match=r"samples are \[8, 8, 2\]") as info:
        import_tflite(tflite_models["tiny-cnn"].path, (8, 8, 2))
    assert "NHWC" in info.value.hint and "NCHW" in info.value.hint and "[8, 8, 1]" in info.value.hint
