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
    raw = raw_input(test.x, graph.input_scale)
    c = _c_engine(graph, ctx.build_dir / f"{name}-c", raw)
    assert np.array_equal(c, golden.predict(graph, raw))
    tflm = TflmRuntime()
    tflm.load(tflite_models[name])
    quantized = tflm.io.inputs[0].quantize(test.x)  # the float quantization TFLM is given ...
    device = golden.run_all(graph, raw)[graph.ops[0].output]  # ... and heiti's integer one
    assert np.array_equal(quantized.reshape(len(raw), -1), device.reshape(len(raw), -1))
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
    from heiti.flow.inference import run_inference
    from heiti.optimizers.micro_c import MicroC
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
    for i in range(model.OperatorCodesLength()):  # turn FULLY_CONNECTED into SOFTMAX in place
        code = model.OperatorCodes(i)
        if code.BuiltinCode() == schema.BuiltinOperator.FULLY_CONNECTED:
            for field, size in ((4, 1), (10, 4)):  # deprecated_builtin_code (int8), builtin_code (int32)
                position = code._tab.Pos + code._tab.Offset(field)
                data[position : position + size] = schema.BuiltinOperator.SOFTMAX.to_bytes(size, "little")
    (tmp_path / "softmax.tflite").write_bytes(bytes(data))
    with pytest.raises(InputError, match="SOFTMAX is not supported") as info:
        import_tflite(tmp_path / "softmax.tflite", (1, 8, 8), 1 / 16)
    assert "logits" in info.value.hint and "CONV_2D" in info.value.hint
    (tmp_path / "junk.tflite").write_bytes(b"not a flatbuffer at all")
    with pytest.raises(InputError, match="not a readable .tflite model"):
        import_tflite(tmp_path / "junk.tflite", (1, 8, 8), 1 / 16)


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
