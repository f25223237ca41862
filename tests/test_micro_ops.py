"""Operators as units (docs/micro.md, "Adding an operator"): a new operator takes one Python
module (its unit), one C file and one line per importer, and then runs golden == C; the
registry is what the graph, quantization, QAT, the code generator and the MAC table read."""

from __future__ import annotations

import numpy as np
import pytest

from heiti.micro import golden
from heiti.micro.build import HostModel, host_library
from heiti.micro.codegen import generate
from heiti.micro.graph import Graph, raw_input
from heiti.micro.ops import HEITI_SCHEMES, Unit, register, unit, units
from heiti.micro.quantize import calibrate, to_integer

torch = pytest.importorskip("torch")

# the toy operator's C file: what a new operator's kernel in micro/c looks like
TOY_C = """/* negate: -x on the int8 grid of x (127 for -128). */
#include "hm_common.h"

void hm_negate(const int8_t *in, int8_t *out, int32_t count);

void hm_negate(const int8_t *in, int8_t *out, int32_t count)
{
    int32_t i;
    for (i = 0; i < count; ++i)
        out[i] = (int8_t)clamp32(-(int32_t)in[i], -128, 127);
}
"""


class Negate(Unit):
    """The toy operator's unit: everything about it in one class (one module in micro/ops)."""

    kind = "negate"
    schemes = HEITI_SCHEMES  # symmetric grids: the negation keeps the scale
    c_files = ("negate.c",)

    def float_run(self, op, inputs, graph):
        return -inputs[0]

    def run(self, op, inputs, backend, scheme):
        return (-inputs[0]).clip(-128, 127)

    def train_forward(self, op, inputs, graph, weight=None, bias=None):
        return -inputs[0]

    def emit_c(self, e):
        size = e.graph.tensors[e.op.output].size  # a kernel outside heiti_micro.h declares itself
        return ("void hm_negate(const int8_t *in, int8_t *out, int32_t count);\n",
                f"hm_negate({e.src}, {e.out}, {size});")


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """The toy operator registered from the test (and its PyTorch importer line), removed after."""
    from heiti.micro import from_torch, ops

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "negate.c").write_text(TOY_C)
    monkeypatch.setattr(Negate, "c_dir", tmp_path / "c")
    units()  # the built-in units first
    monkeypatch.setitem(ops._UNITS, "negate", Negate())  # what @register does, undone after the test
    # the importer's one line: a PyTorch module class -> the unit
    monkeypatch.setitem(from_torch.MODULES, "Negation", lambda m, b, path: b.emit("negate", [b.current], {}))
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    return tmp_path


class Negation(torch.nn.Module):
    def forward(self, x):
        return -x


@pytest.mark.parametrize("scheme", HEITI_SCHEMES)
def test_a_toy_operator_added_as_a_unit_runs_golden_equal_to_c(toy, scheme):
    from heiti.micro.from_torch import from_torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), Negation(), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    floats = from_torch(net, (1, 6, 6), 1 / 255)
    assert [op.kind for op in floats.ops] == ["preprocess", "conv2d", "negate", "clamp", "reshape", "dense"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 1, 6, 6)) / 255
    want = net(torch.tensor(x, dtype=torch.float32)).detach().numpy()
    from heiti.micro.floatgraph import float_run_all

    assert np.allclose(float_run_all(floats, x)[floats.output], want, atol=1e-5)
    graph = to_integer(floats, calibrate(floats, x), scheme)
    graph.save(toy / "toy.npz")
    graph = Graph.load(toy / "toy.npz")
    raw = raw_input(x, graph.input_scale)
    generate(graph, toy / "model")
    c = HostModel(host_library(toy / "model"), raw[0].size, 3).predict(raw)
    assert np.array_equal(c, golden.predict(graph, raw))
    assert len(np.unique(c)) > 5


def test_every_graph_operator_is_a_unit_with_its_c():
    from importlib import resources

    folder = resources.files("heiti.micro") / "c"
    for kind, rules in units().items():
        assert rules.kind == kind and unit(kind) is rules
        for name in rules.c_files:
            assert (folder / name).is_file(), f"{kind}: {name}"
    assert {"conv2d", "dense", "add", "avgpool", "maxpool", "clamp", "reshape", "preprocess"} <= set(units())
    with pytest.raises(Exception, match="operator 'nope' is unknown"):
        unit("nope")


def test_register_makes_a_unit_known(monkeypatch):
    from heiti.micro import ops

    units()
    monkeypatch.setattr(ops, "_UNITS", dict(ops._UNITS))
    register(Negate)
    assert isinstance(unit("negate"), Negate)


@pytest.mark.parametrize("scale", [0.02, 0.1, 0.5])
@pytest.mark.parametrize("length", [12, 100], ids=["exponentials-kept", "recomputed"])
def test_softmax_c_equals_its_golden_model_over_the_whole_int8_range(scale, length, tmp_path, monkeypatch):
    """TFLite's int8 softmax (gemmlowp fixed point) in C and in NumPy, on random vectors and
    on the edges: differences beyond diff_min (outputs -128), one-hot and constant rows; rows
    short enough for the C kernel to keep the first pass's exponentials and longer ones.
    tests/test_micro_mlperf.py checks the pair against TFLM."""
    from heiti.micro.graph import Op, Tensor
    from heiti.micro.ops import softmax

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    attrs = softmax.parameters(scale)
    tensors = {"input": Tensor("input", (length,), scale, "int8", 3),
               "t0": Tensor("t0", (length,), *softmax.OUTPUT)}
    graph = Graph(tensors, [Op("softmax", ["input"], "t0", attrs)], "input", "t0", "tflite", scale)
    rng = np.random.default_rng(0)
    raw = rng.integers(-128, 128, (400, length)).astype(np.int8)
    raw[0], raw[1], raw[2, 3] = -128, 5, 127  # a constant row, another, a one-hot peak
    want = golden.predict(graph, raw)
    generate(graph, tmp_path / "c")
    assert np.array_equal(HostModel(host_library(tmp_path / "c"), length, length).predict(raw), want)
    probabilities = (want.astype(np.float64) + 128) / 256
    values = raw.astype(np.float64)
    exact = np.exp((values - values.max(1, keepdims=True)) * scale)
    assert np.abs(probabilities - exact / exact.sum(1, keepdims=True)).max() < 2 / 256


@pytest.mark.parametrize("same_grid", [True, False], ids=["same-grid", "own-grid"])
def test_qdq_average_pooling_rounds_half_to_even_as_onnx_runtime(same_grid, tmp_path, monkeypatch):
    """QDQ imports in the tflite-single scheme pool the mean of q - zero_point with one
    rounding half to even (ONNX Runtime's QuantizeLinear), golden == C."""
    from heiti.micro.floatgraph import FloatBuilder
    from heiti.micro.quantize import calibrate_bounds

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(3)
    b = FloatBuilder((1, 6, 6), 1 / 255)
    conv = b.conv(rng.normal(0, 0.5, (4, 1, 3, 3)), rng.normal(0, 0.1, 4), 1, 1, 1)
    pooled = b.avgpool(2, 2, 2)  # 4 values a window: many exact halves
    floats = b.finish()
    floats.ops[-1].attrs["rounding"] = "half-even"
    x = rng.integers(0, 256, (200, 1, 6, 6)) / 255
    ranges = calibrate_bounds(floats, x)
    if same_grid:
        ranges[pooled] = ranges[conv]
    graph = to_integer(floats, ranges, "tflite-single")
    op = graph.ops[-1]
    assert op.attrs["mode"] == "qdq" and ("mult" in op.arrays) != same_grid
    raw = raw_input(x, graph.input_scale)
    values = golden.run_all(graph, raw)
    if same_grid:  # exactly NumPy's round half to even of the mean
        blocks = values[conv].reshape(200, 4, 3, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5)
        windows = blocks.reshape(200, 4, 3, 3, 4)
        mean = (windows - op.attrs["in_zp"]).mean(axis=-1)
        assert np.array_equal(values[pooled], np.clip(np.round(mean) + op.attrs["out_zp"], -128, 127))
        assert np.any(mean % 1 == 0.5)
    generate(graph, tmp_path / "c")
    c = HostModel(host_library(tmp_path / "c"), 36, graph.tensors[pooled].size).predict(raw)
    assert np.array_equal(c, golden.predict(graph, raw).reshape(200, -1))
