"""TFLite Micro's common int8 operators beyond the convolutional core, each a unit of heiti
micro: TANH, HARD_SWISH, MUL, ADD and MUL with broadcasting and constant operands,
CONCATENATION, MEAN with and without keep_dims, RESIZE_NEAREST_NEIGHBOR, PAD and uneven SAME
padding. Small int8 .tflite models made with litert-torch (untrained weights: exactness does
not need training) give TFLM's outputs bit for bit in the golden model, the host C build and
the firmware on the emulated mps2-an386 (one model holding all of them: one board run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from heiti.micro import golden
from heiti.micro.build import HostModel, host_library
from heiti.micro.codegen import generate
from heiti.micro.tflite_import import import_tflite

torch = pytest.importorskip("torch")
pytest.importorskip("tflite_micro", reason='tflite-micro not installed: pip install "heiti[tflm]"')

from test_micro_mlperf import c_artifact, on_board, tflm_outputs  # noqa: E402

SHAPE = (16, 16, 3)
SAMPLES = 12


def _operators_net():
    """Every new operator once: TANH, HARD_SWISH, MUL (same shapes, with a per-channel mean, with
    constants), ADD with a per-channel mean, MEAN with and without keep_dims, CONCATENATION,
    RESIZE_NEAREST_NEIGHBOR, uneven SAME padding (convolution, depthwise, max pooling) and an
    uneven PAD (which litert-torch writes between NCHW transposes)."""
    from torch import nn

    F = nn.functional

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, 2)  # after an uneven pad: TFLite's SAME, 16 -> 8
            self.expand = nn.Conv2d(8, 8, 1)
            self.side = nn.Conv2d(8, 4, 1)
            self.depthwise = nn.Conv2d(12, 12, 3, 2, groups=12)  # SAME, 12 -> 6
            self.last = nn.Conv2d(12, 8, 3)
            self.register_buffer("gain", torch.linspace(0.5, 2.0, 12).reshape(1, 12, 1, 1))
            self.register_buffer("halve", torch.tensor([0.5]))
            self.fc = nn.Linear(8 * 4 * 4, 10)

        def forward(self, x):
            x = x.permute(0, 3, 1, 2)
            y = torch.tanh(self.stem(F.pad(x, (0, 1, 0, 1))))
            z = F.hardswish(self.expand(y))
            w = z * y
            g = w.mean(dim=(2, 3), keepdim=True)
            w = w * g + g
            u = torch.cat([w, self.side(y)], dim=1)
            u = F.interpolate(u, size=(12, 12), mode="nearest") * self.gain  # 7 -> 12
            u = self.depthwise(F.pad(u, (0, 1, 0, 1)))
            u = self.last(F.pad(u, (1, 2, 1, 2))) * self.halve  # 6 + 3 - 2 = 7
            return self.fc(F.max_pool2d(u, 2, 2, ceil_mode=True).flatten(1))  # SAME, 7 -> 4

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():  # outputs spread over the int8 range: tanh and hard_swish saturate too
        net.stem.weight.mul_(4)
        net.expand.weight.mul_(6)
    return net


def convert(net, shape: tuple[int, ...], path: Path, low: float = -1.0) -> Path:
    """The int8 .tflite of ``net``: litert-torch with per-channel PT2E quantization."""
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig

    from heiti.frameworks import pt2e

    example = torch.zeros(1, *shape)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    calibration = np.random.default_rng(0).uniform(low, 1, (16, *shape)).astype(np.float32)
    quantized = pt2e.quantize(net.eval(), example, quantizer, calibration, 1, fold_weights=False)
    litert_torch.convert(quantized, (example,), quant_config=QuantConfig(pt2e_quantizer=quantizer)).export(
        str(path))
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    pytest.importorskip("litert_torch", reason='pip install "heiti[litert-convert]" for litert-torch')
    from torch import nn

    folder = tmp_path_factory.mktemp("tflite-ops")
    found = {"operators": convert(_operators_net(), SHAPE, folder / "operators.tflite")}
    for name, function in (("tanh", nn.Tanh()), ("hard_swish", nn.Hardswish())):  # between int8 layers
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(16, 16), function, nn.Linear(16, 16))
        with torch.no_grad():
            net[0].weight.mul_(8)  # inputs well beyond the saturation of tanh and hard_swish's bend
        path = convert(net, (16,), folder / f"{name}-layers.tflite")
        found[name] = folder / f"{name}.tflite"
        found[name].write_bytes(_alone(path.read_bytes(), name.upper()))
    return found


def _alone(data: bytes, operator: str) -> bytes:
    """The model reduced to its one ``operator`` (int8 in, int8 out), so that a test can give it
    every int8 value."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    sub = model.subgraphs[0]
    code = getattr(schema.BuiltinOperator, operator)
    sub.operators = [op for op in sub.operators if codes[op.opcodeIndex] == code]
    sub.inputs, sub.outputs = list(sub.operators[0].inputs), list(sub.operators[0].outputs)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _host(graph, raw: np.ndarray, folder: Path) -> np.ndarray:
    generate(graph, folder)
    return HostModel(host_library(folder), raw[0].size, graph.tensors[graph.output].size).predict(raw)


def test_the_new_operators_equal_tflm_on_host_and_board(models, tmp_path, monkeypatch):
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    graph = import_tflite(models["operators"], SHAPE)
    kinds = [op.kind for op in graph.ops]
    assert {"tanh", "hard_swish", "mul", "add", "concat", "resize_nearest", "pad", "maxpool"} <= set(kinds)
    assert any("operand" in op.arrays for op in graph.ops if op.kind == "mul")  # constant operands
    shapes = {tuple(graph.tensors[name].shape) for op in graph.ops if op.kind in ("mul", "add")
              for name in op.inputs}
    assert (8, 1, 1) in shapes  # a per-channel operand: MEAN with keep_dims, broadcast
    raw = graph.quantize_input(np.random.default_rng(1).uniform(-1.5, 1.5, (SAMPLES, *SHAPE)))
    want = tflm_outputs(models["operators"], raw)
    assert len(np.unique(want)) > 20
    assert np.array_equal(golden.predict(graph, raw).reshape(len(raw), -1), want)
    assert np.array_equal(_host(graph, raw, tmp_path / "host"), want)
    if all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc")):
        board, _ = on_board(c_artifact(graph, models["operators"], tmp_path), "mps2-an386", raw)
        assert np.array_equal(board, want)


@pytest.mark.parametrize("name", ["tanh", "hard_swish"])
def test_activations_equal_tflm_on_every_int8_input(models, name, tmp_path, monkeypatch):
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    graph = import_tflite(models[name], (16,))
    assert [op.kind for op in graph.ops] == [name]
    raw = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)  # every input value once
    want = tflm_outputs(models[name], raw)
    assert len(np.unique(want)) > 50 and want.max() == 127  # the whole curve, into saturation
    assert np.array_equal(golden.predict(graph, raw), want)
    assert np.array_equal(_host(graph, raw, tmp_path / "c"), want)


def _resize_options(data: bytes, align_corners: bool, half_pixel_centers: bool) -> bytes:
    """The model with other RESIZE_NEAREST_NEIGHBOR options (TFLM reads them at run time)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    for op in model.subgraphs[0].operators:
        if codes[op.opcodeIndex] == schema.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR:
            options = op.builtinOptions
            options.alignCorners, options.halfPixelCenters = align_corners, half_pixel_centers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("align_corners, half_pixel_centers", [(True, False), (False, True)])
def test_resize_nearest_neighbor_options_equal_tflm(models, align_corners, half_pixel_centers, tmp_path,
                                                     monkeypatch):
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "resized.tflite"
    path.write_bytes(_resize_options(models["operators"].read_bytes(), align_corners, half_pixel_centers))
    graph = import_tflite(path, SHAPE)
    resize = next(op for op in graph.ops if op.kind == "resize_nearest")
    from heiti.micro.ops.resize_nearest import nearest

    assert (resize.arrays["rows"] != nearest(12, 7, False, False)).any()  # not the default options' rows
    raw = graph.quantize_input(np.random.default_rng(2).uniform(-1.5, 1.5, (4, *SHAPE)))
    want = tflm_outputs(path, raw)
    assert np.array_equal(golden.predict(graph, raw).reshape(len(raw), -1), want)
    assert np.array_equal(_host(graph, raw, tmp_path / "c"), want)


def test_pytorch_tanh_hardswish_and_upsample_map_to_the_units(tmp_path, monkeypatch):
    """micro-ptq's path: the PyTorch modules become the same units (tflite scheme), golden == C and
    close to PyTorch; heiti's own schemes refuse tanh by name before any C is written."""
    from torch import nn

    from heiti.errors import InputError
    from heiti.micro.from_torch import from_torch
    from heiti.micro.graph import raw_input
    from heiti.micro.quantize import calibrate_for, to_integer

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Tanh(), nn.Upsample(scale_factor=2),
                        nn.Conv2d(4, 4, 3, 2), nn.Hardswish(), nn.Flatten(), nn.Linear(4 * 5 * 5, 3))
    x = np.random.default_rng(0).integers(0, 256, (64, 1, 6, 6)) / 255
    want = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    floats = from_torch(net, (1, 6, 6), 1 / 255)
    graph = to_integer(floats, calibrate_for(floats, x, "tflite"), "tflite")
    assert [op.kind for op in graph.ops][1:6] == ["conv2d", "tanh", "resize_nearest", "conv2d", "hard_swish"]
    raw = raw_input(x, graph.input_scale)
    q = golden.predict(graph, raw)
    assert np.array_equal(_host(graph, raw, tmp_path / "c"), q)
    assert np.abs(graph.dequantize(q) - want).max() < 0.1 * np.abs(want).max()
    with pytest.raises(InputError, match="'tanh' has no integer kernel in the pow2 scheme"):
        to_integer(floats, calibrate_for(floats, x, "pow2"), "pow2")
