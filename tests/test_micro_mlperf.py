"""int8 .tflite models shaped like the MLPerf Tiny reference models (keyword spotting DS-CNN
on 49x10x1, visual wake words MobileNetV1-0.25 on 96x96x3, image classification ResNet-8 on
32x32x3, anomaly detection fully connected autoencoder on 640 values), built with litert-torch
(untrained weights: exactness does not need training), with int8 inputs and outputs carrying a
zero point and an int8 SOFTMAX where the reference has one: micro-import-tflite's golden model,
the host C build and the firmware on the emulated mps2-an386 give TFLM's outputs bit for bit.

The model builders are shared with benchmarks/micro_mlperf.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tflite_micro", reason='tflite-micro not installed: pip install "heiti[tflm]"')

SHAPES = {"ds-cnn": (49, 10, 1), "mobilenet-v1": (96, 96, 3), "resnet-8": (32, 32, 3), "autoencoder": (640,)}
SAMPLES = 3


def _separable(cin: int, cout: int, stride: int) -> list:
    from torch import nn

    return [nn.Conv2d(cin, cin, 3, stride, 1, groups=cin), nn.BatchNorm2d(cin), nn.ReLU(),
            nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU()]


def build(name: str):
    """The PyTorch model (NHWC input for the image and audio models, as the references take it)."""
    import torch
    from torch import nn

    class Nhwc(nn.Module):
        def __init__(self, *layers):
            super().__init__()
            self.body = nn.Sequential(*layers)

        def forward(self, x):
            return self.body(x.permute(0, 3, 1, 2))

    class Residual(nn.Module):
        def __init__(self, cin: int, cout: int, stride: int):
            super().__init__()
            self.main = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nn.Conv2d(cout, cout, 3, 1, 1), nn.BatchNorm2d(cout))
            self.skip = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

        def forward(self, x):
            return torch.relu(self.main(x) + self.skip(x))

    torch.manual_seed(0)
    head = [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if name == "ds-cnn":  # 64 channels, 4 separable blocks; the first kernel 10x4, stride 2
        blocks = sum((_separable(64, 64, 1) for _ in range(4)), [])
        net = Nhwc(nn.Conv2d(1, 64, (10, 4), 2), nn.BatchNorm2d(64), nn.ReLU(), *blocks, *head,
                   nn.Linear(64, 12), nn.Softmax(dim=1))
    elif name == "mobilenet-v1":  # width 0.25: 8 .. 256 channels, 13 separable blocks
        widths = [8, 16, 32, 32, 64, 64, 128, 128, 128, 128, 128, 128, 256, 256]
        strides = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
        blocks = sum((_separable(widths[i], widths[i + 1], s) for i, s in enumerate(strides)), [])
        net = Nhwc(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU(), *blocks, *head,
                   nn.Linear(256, 2), nn.Softmax(dim=1))
    elif name == "resnet-8":  # three residual stacks, 16/32/64 channels
        net = Nhwc(nn.Conv2d(3, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU(), Residual(16, 16, 1),
                   Residual(16, 32, 2), Residual(32, 64, 2), *head, nn.Linear(64, 10), nn.Softmax(dim=1))
    else:  # 640 -> 128 x4 -> 8 -> 128 x4 -> 640
        sizes = [640, 128, 128, 128, 128, 8, 128, 128, 128, 128]
        pairs = zip(sizes, sizes[1:], strict=False)
        layers = sum(([nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()] for a, b in pairs), [])
        net = nn.Sequential(*layers, nn.Linear(128, 640))
    for module in net.modules():  # spread the untrained outputs so that softmax is not flat
        if isinstance(module, nn.BatchNorm2d | nn.BatchNorm1d):
            module.running_var.fill_(0.5)
    return net.eval()


def int8_softmax(data: bytes) -> bytes:
    """litert-torch leaves softmax in float (DEQUANTIZE, SOFTMAX at the end); TFLite's
    converter, which made the reference models, quantizes it: the same model with TFLite's
    int8 SOFTMAX (output scale 1/256, zero point -128) instead."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    ops, codes = model.subgraphs[0].operators, [max(c.builtinCode, c.deprecatedBuiltinCode)
                                                for c in model.operatorCodes]
    softmax = next((op for op in ops if codes[op.opcodeIndex] == schema.BuiltinOperator.SOFTMAX), None)
    if softmax is None:
        return data
    dequantize = next(op for op in ops if op.outputs[0] == softmax.inputs[0])
    softmax.inputs = dequantize.inputs
    ops.remove(dequantize)
    output = model.subgraphs[0].tensors[softmax.outputs[0]]
    output.type = schema.TensorType.INT8
    output.quantization = schema.QuantizationParametersT()
    output.quantization.scale, output.quantization.zeroPoint = [1 / 256], [-128]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def uint8_in_float_out(data: bytes) -> bytes:
    """The same model taking uint8 (zero point 0, a QUANTIZE to the int8 input first) and
    returning float (a DEQUANTIZE of the int8 output last), as converters emit for users who
    ask for uint8 inputs and float outputs."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    sub = model.subgraphs[0]
    codes = {}
    for code in (schema.BuiltinOperator.QUANTIZE, schema.BuiltinOperator.DEQUANTIZE):
        entry = schema.OperatorCodeT()
        entry.builtinCode, entry.deprecatedBuiltinCode, entry.version = code, code, 1
        model.operatorCodes.append(entry)
        codes[code] = len(model.operatorCodes) - 1

    def tensor(like: int, dtype: int, scale: float | None, zero_point: int) -> int:
        new = schema.TensorT()
        new.shape, new.type, new.buffer = list(sub.tensors[like].shape), dtype, 0
        new.name = sub.tensors[like].name + (b"_u8" if dtype == schema.TensorType.UINT8 else b"_f32")
        if scale is not None:
            new.quantization = schema.QuantizationParametersT()
            new.quantization.scale, new.quantization.zeroPoint = [scale], [zero_point]
        sub.tensors.append(new)
        return len(sub.tensors) - 1

    def operator(code: int, source: int, target: int):
        op = schema.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = codes[code], [source], [target]
        return op

    first, last = sub.inputs[0], sub.outputs[0]
    raw = tensor(first, schema.TensorType.UINT8, sub.tensors[first].quantization.scale[0], 0)
    real = tensor(last, schema.TensorType.FLOAT32, None, 0)
    sub.operators.insert(0, operator(schema.BuiltinOperator.QUANTIZE, raw, first))
    sub.operators.append(operator(schema.BuiltinOperator.DEQUANTIZE, last, real))
    sub.inputs, sub.outputs = [raw], [real]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def convert(name: str, path: Path) -> Path:
    """The int8 .tflite of ``build(name)``: litert-torch with per-channel PT2E quantization,
    calibrated on non-negative inputs (features, pixels), so the int8 input has zero point -128."""
    import litert_torch
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig

    from heiti.frameworks import pt2e

    shape = SHAPES[name]
    example = torch.zeros(1, *shape)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    calibration = np.random.default_rng(0).uniform(0, 1, (16, *shape)).astype(np.float32)
    quantized = pt2e.quantize(build(name), example, quantizer, calibration, 1, fold_weights=False)
    config = QuantConfig(pt2e_quantizer=quantizer)
    converted = litert_torch.convert(quantized, (example,), quant_config=config)
    float_softmax = path.with_suffix(".litert.tflite")
    converted.export(str(float_softmax))
    path.write_bytes(int8_softmax(float_softmax.read_bytes()))
    return path


def samples(name: str, count: int) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 1, (count, *SHAPES[name])).astype(np.float32)


def tflm_outputs(path: Path, q: np.ndarray) -> np.ndarray:
    """TFLM's int8 outputs, one sample per invocation."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    shape = interpreter.get_input_details(0)["shape"]
    found = []
    for sample in q:
        interpreter.set_input(sample.reshape(shape), 0)
        interpreter.invoke()
        found.append(interpreter.get_output(0).reshape(-1).copy())
    return np.stack(found)


def c_artifact(graph, tflite: Path, folder: Path):
    """The imported graph as a c-int8 artifact (micro-c, no host check) for the board."""
    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.core.steps import StepContext
    from heiti.micro.steps import graph_artifact
    from heiti.optimizers.micro_c import MicroC

    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, *graph.tensors[graph.input].shape])],
                outputs=[TensorSpec(name="output", shape=[-1, graph.tensors[graph.output].size])])
    source = Artifact(path=tflite, format="tflite-int8", io=io, provenance=Provenance(producer="test"))
    npz = graph_artifact(graph, folder / "graph.npz", source, "test", {}).save()
    ctx = StepContext(dataset=None, build_dir=folder, log=lambda m: None)
    c = MicroC({"check_samples": 0, "cortex_m4": False}).optimize(npz, folder / "c", ctx)
    c.format = "c-int8"
    return c.save()


def on_board(artifact, board: str, raw: np.ndarray) -> tuple[np.ndarray, dict]:
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    executor = Qemu({"board": board}).open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    return loop.outputs["output"], executor.target_statistics["board"]


@pytest.fixture(scope="session")
def mlperf(tmp_path_factory):
    pytest.importorskip("litert_torch", reason='pip install "heiti[litert-convert]" for litert-torch')
    folder = tmp_path_factory.mktemp("mlperf")
    return {name: convert(name, folder / f"{name}.tflite") for name in SHAPES}


@pytest.mark.parametrize("name", list(SHAPES))
def test_mlperf_shaped_int8_models_equal_tflm_on_host_and_board(mlperf, name, tmp_path, monkeypatch):
    from heiti.micro import golden
    from heiti.micro.build import HostModel, host_library
    from heiti.micro.codegen import generate
    from heiti.micro.tflite_import import import_tflite

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    graph = import_tflite(mlperf[name], SHAPES[name])
    source = graph.tensors[graph.input]
    assert source.dtype == "int8" and source.zero_point == -128  # the raw int8 input with its zero point
    if name != "autoencoder":
        assert graph.ops[-1].kind == "softmax" and graph.output_zero_point == -128
    raw = graph.quantize_input(samples(name, SAMPLES))
    want = tflm_outputs(mlperf[name], raw)
    assert len(np.unique(want)) > 2  # not a saturated constant
    assert np.array_equal(golden.predict(graph, raw).reshape(len(raw), -1), want)
    generate(graph, tmp_path / "host")
    host = HostModel(host_library(tmp_path / "host"), raw[0].size, want.shape[1]).predict(raw)
    assert np.array_equal(host, want)
    if all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc")):
        board, _ = on_board(c_artifact(graph, mlperf[name], tmp_path), "mps2-an386", raw)
        assert np.array_equal(board, want)


def test_a_uint8_input_quantize_and_a_trailing_dequantize_equal_tflm(mlperf, tmp_path, monkeypatch):
    """QUANTIZE (uint8 input with its zero point to the int8 grid) runs on the device; a last
    DEQUANTIZE is left to the host, whose real values equal TFLM's float outputs."""
    from heiti.micro import golden
    from heiti.micro.build import HostModel, host_library
    from heiti.micro.codegen import generate
    from heiti.micro.tflite_import import import_tflite

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "ds-cnn-u8.tflite"
    path.write_bytes(uint8_in_float_out(mlperf["ds-cnn"].read_bytes()))
    graph = import_tflite(path, SHAPES["ds-cnn"])
    assert graph.tensors[graph.input].dtype == "uint8" and "requantize" in [op.kind for op in graph.ops]
    raw = graph.quantize_input(samples("ds-cnn", SAMPLES))
    assert raw.dtype == np.uint8
    want = tflm_outputs(path, raw)
    assert want.dtype == np.float32
    q = golden.predict(graph, raw)
    assert np.array_equal(graph.dequantize(q), want)
    generate(graph, tmp_path / "c")
    assert np.array_equal(HostModel(host_library(tmp_path / "c"), raw[0].size, q.shape[1]).predict(raw), q)
