"""heiti micro units: rounding, kernels (C and PyTorch against the NumPy golden model),
the memory planner's bounds, C that compiles with -Werror, and rejected operators."""

from __future__ import annotations

import copy
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from heiti.errors import InputError
from heiti.micro import golden, rounding
from heiti.micro.build import HostModel, cortex_m4_report, host_library
from heiti.micro.codegen import generate
from heiti.micro.floatgraph import FloatBuilder
from heiti.micro.graph import Graph
from heiti.micro.planner import buffers, plan_memory
from heiti.micro.quantize import (
    calibrate,
    calibrate_for,
    detect_input_scale,
    fixed_point,
    quantize_multiplier,
    to_integer,
)

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("micro-cache")))
    yield
    mp.undo()


def _every_op_graph(seed: int = 0):
    """A float graph using every operator: conv, depthwise stride 2, ReLU6, add, clamp,
    max and average pooling, global average pooling, flatten, dense."""
    rng = np.random.default_rng(seed)
    b = FloatBuilder((3, 12, 12), 1 / 255, mean=np.array([100, 120, 90], dtype=np.int32))
    b.conv(rng.normal(0, 0.3, (8, 3, 3, 3)), rng.normal(0, 0.1, 8), 1, 1, 1)
    first = b.activation("relu6")
    b.conv(rng.normal(0, 0.3, (8, 1, 3, 3)), rng.normal(0, 0.1, 8), 1, 1, 8)
    b.add(first, b.current)
    b.activation("relu", fuse=False)
    b.maxpool(2, 2)
    b.conv(rng.normal(0, 0.3, (8, 1, 3, 3)), rng.normal(0, 0.1, 8), 2, 1, 8)
    b.avgpool(2, 2, 1)
    _, h, w = b.shape
    b.avgpool(h, w, 1)
    b.reshape((8,))
    b.dense(rng.normal(0, 0.5, (5, 8)), rng.normal(0, 0.1, 5))
    return b.finish()


@pytest.fixture(scope="module", params=["pow2", "per-channel", "tflite", "tflite-single"])
def every_op(request):
    floats = _every_op_graph()
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (64, 3, 12, 12)).astype(np.uint8)
    ranges = calibrate_for(floats, raw * floats.input_scale, request.param)
    return to_integer(floats, ranges, request.param), raw


def test_requantization_rounds_half_away_from_zero_and_saturates():
    acc = np.array([5, -5, 3, -3, 1, -1, 1000, -1000, 7])
    got = rounding.requantize(acc, None, np.array([1, 1, 1, 1, 1, 1, 0, 0, 2]))
    assert got.tolist() == [3, -3, 2, -2, 1, -1, 127, -128, 2]
    assert rounding.requantize(np.array([3, -3]), None, np.array([-2])).tolist() == [12, -12]
    assert rounding.requantize(np.array([5, -5]), np.array([2**30]), np.array([31])).tolist() == [3, -3]
    assert rounding.divide_round(np.array([6, -6, 5, -5]), 4).tolist() == [2, -2, 1, -1]


def test_fixed_point_multipliers():
    assert fixed_point(0.25) == (1, 2)  # powers of two are exact shifts
    assert fixed_point(4.0) == (1, -2)
    mult, shift = fixed_point(0.3)
    assert 2**30 <= mult < 2**31 and abs(mult * 2.0**-shift - 0.3) < 1e-9


def _srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul, literally (C division truncates)."""
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    total = ab + nudge
    return abs(total) // (1 << 31) * (1 if total >= 0 else -1)


def _rdbpot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT, literally."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def test_tflite_requantization_is_tflites_double_rounding_and_c_agrees(tmp_path):
    rng = np.random.default_rng(4)
    accs = rng.integers(-(2**20), 2**20, 3000)
    factors = np.exp(rng.uniform(np.log(1e-6), np.log(2.0), 3000))
    factors[:4] = [0.5, 0.25, 1.0, 2**-20]  # powers of two: M = 2^30
    pairs = [quantize_multiplier(float(m)) for m in factors]
    mult, shift = (np.array([p[i] for p in pairs]) for i in (0, 1))
    want = []
    for a, m, n in zip(accs.tolist(), mult.tolist(), shift.tolist(), strict=True):
        e = 31 - n
        want.append(_rdbpot(_srdhm(a * (1 << max(e, 0)), m), max(-e, 0)))
    assert rounding.tflite_multiply(accs, mult, shift).tolist() == want
    assert quantize_multiplier(0.5) == (2**30, 31) and quantize_multiplier(0.0) == (0, 31)
    single = rounding.tflite_multiply_single(accs, mult, shift)
    assert np.array_equal(single, np.floor(accs * (mult * 2.0**-shift) + 0.5).astype(np.int64))
    assert np.mean(single != np.array(want)) > 0  # double rounding differs now and then
    graph, _ = _tiny_tflite_graph()
    generate(graph, tmp_path)
    fn = ctypes.CDLL(str(host_library(tmp_path))).hm_tflite_multiply
    for mode, expected in ((1, want), (2, single.tolist())):
        got = [fn(a, m, n, mode) for a, m, n in zip(accs.tolist(), mult.tolist(), shift.tolist(),
                                                          strict=True)]
        assert got == expected


def _tiny_tflite_graph():
    floats = _every_op_graph()
    raw = np.random.default_rng(5).integers(0, 256, (8, 3, 12, 12)).astype(np.uint8)
    return to_integer(floats, calibrate_for(floats, raw * floats.input_scale, "tflite"), "tflite"), raw


def test_c_requant_matches_golden_on_edge_cases(every_op, tmp_path):
    graph, _ = every_op
    generate(graph, tmp_path)
    lib = ctypes.CDLL(str(host_library(tmp_path)))
    rng = np.random.default_rng(2)
    cases = [(5, 1, 1), (-5, 1, 1), (2**31 - 1, 2**31 - 1, 62), (-(2**31) + 1, 2**31 - 1, 40), (-7, 1, -3),
             (123456, 1518500250, 37), (-123456, 1518500250, 37)]
    accs, mults = rng.integers(-(2**31) + 1, 2**31, 200), rng.integers(1, 2**31, 200)
    cases += [(int(a), int(m), int(n)) for a, m, n in zip(accs, mults, rng.integers(1, 63, 200), strict=True)]
    for acc, mult, shift in cases:
        want = rounding.requantize(np.array([acc]), np.array([mult]), np.array([shift]))[0]
        assert lib.hm_requant(acc, mult, shift, -128, 127) == want, (acc, mult, shift)


def test_c_engine_and_torch_backend_equal_the_golden_model(every_op, tmp_path):
    from heiti.micro.torch_backend import TorchBackend

    graph, raw = every_op
    generate(graph, tmp_path)
    want = golden.predict(graph, raw)
    library = host_library(tmp_path)
    host = HostModel(library, raw[0].size, want.shape[1])
    assert np.array_equal(host.predict(raw), want)
    classify, out = ctypes.CDLL(str(library)).heiti_model_classify, np.empty(want.shape[1], np.int8)
    classify.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    assert [classify(r.ctypes.data, out.ctypes.data) for r in raw] == want.argmax(1).tolist()
    assert np.array_equal(golden.run(graph, torch.from_numpy(raw), TorchBackend).numpy(), want)
    assert len(set(want.reshape(-1).tolist())) > 10  # not saturated to a constant


def test_graph_file_round_trip_and_bad_files(every_op, tmp_path):
    graph, raw = every_op
    graph.save(tmp_path / "g.npz")
    loaded = Graph.load(tmp_path / "g.npz")
    assert np.array_equal(golden.predict(loaded, raw), golden.predict(graph, raw))
    (tmp_path / "bad.npz").write_bytes(b"not a graph")
    with pytest.raises(InputError, match="not a micro-int8 graph"):
        Graph.load(tmp_path / "bad.npz")
    graph = copy.deepcopy(graph)  # the fixture is shared
    graph.ops[1].kind = "sigmoid"
    graph.save(tmp_path / "odd.npz")
    with pytest.raises(InputError, match="'sigmoid' is unknown"):
        Graph.load(tmp_path / "odd.npz")
    with pytest.raises(InputError, match="micro-c: operator 1 'sigmoid'"):
        generate(graph, tmp_path / "c")


def _zoo_graph(name: str, params: dict, shape: tuple[int, ...]):
    from heiti import registry
    from heiti.micro.from_torch import from_torch

    torch.manual_seed(0)
    module = registry.get("model", name)(params).build(shape, 10)
    return from_torch(module, shape, 1 / 255)


@pytest.mark.parametrize("name,params,shape", [
    ("tiny-cnn", {"channels": [32, 64], "hidden": 128}, (1, 8, 8)),
    ("mobilenet-v2", {}, (3, 32, 32)),
])
def test_planner_stays_within_5_percent_of_the_lower_bound(name, params, shape):
    graph = _zoo_graph(name, params, shape)
    plan = plan_memory(graph)
    assert plan.lower_bound <= plan.arena_bytes <= 1.05 * plan.lower_bound
    assert plan.arena_bytes < plan.naive_bytes
    bufs, _ = buffers(graph)
    for i, a in enumerate(bufs):  # buffers alive together never share bytes
        for b in bufs[i + 1 :]:
            if a.overlaps(b):
                oa, ob = plan.offsets[a.name], plan.offsets[b.name]
                assert oa + a.size <= ob or ob + b.size <= oa


def test_generated_c_compiles_for_cortex_m4(every_op, tmp_path):
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not on PATH")
    graph, _ = every_op
    plan = generate(graph, tmp_path)
    report = cortex_m4_report(tmp_path)
    assert report["bss_bytes"] >= plan.arena_bytes and report["flash_bytes"] > graph.weight_bytes()
    # the deepest call chain from heiti_model_run: the DSP convolutions keep up to 130 int32
    # accumulators on the stack (about 1 KiB in all), far inside the boards' 8 KiB reserve
    assert 512 < report["stack_bytes"] < 2048


def test_unsupported_torch_modules_are_rejected_with_their_name():
    from torch import nn

    from heiti.micro.from_torch import from_torch

    with pytest.raises(InputError, match=r"Conv2d.*dilation") as info:
        from_torch(nn.Sequential(nn.Conv2d(1, 4, 3, dilation=2)), (1, 8, 8), 1 / 16)
    assert "supported:" in str(info.value)
    with pytest.raises(InputError, match="Sigmoid"):
        from_torch(nn.Sequential(nn.Conv2d(1, 4, 3), nn.Sigmoid()), (1, 8, 8), 1 / 16)
    with pytest.raises(InputError, match=r"maxpool would turn a \[1, 2, 2\] tensor into an empty"):
        from_torch(nn.Sequential(nn.MaxPool2d(4)), (1, 2, 2), 1 / 16)


def test_unsupported_onnx_nodes_are_rejected_with_their_name(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from heiti.micro.onnx_import import import_onnx

    graph = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["y"], name="squash")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])])
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    with pytest.raises(InputError, match=r"'squash' \(Sigmoid\) is not supported") as info:
        import_onnx(tmp_path / "m.onnx", 1 / 255)
    assert "Conv" in info.value.hint


def test_input_scale_detection():
    assert detect_input_scale(np.arange(17) / 16) == 1 / 16
    assert detect_input_scale(np.array([0.3, 0.7])) == 1 / 255
    with pytest.raises(InputError, match="input_scale"):
        detect_input_scale(np.array([-1.0, 1.0]))


@pytest.mark.parametrize("scheme", ["pow2", "per-channel", "tflite"])
def test_qat_network_trains_every_operator_and_evaluates_exactly(scheme):
    from heiti.micro.qat import QatNet

    raw = np.random.default_rng(3).integers(0, 256, (32, 3, 12, 12)).astype(np.uint8)
    floats = _every_op_graph()
    x = torch.from_numpy(raw * floats.input_scale).float()
    net = QatNet(floats, calibrate(floats, x.numpy()), scheme=scheme)
    loss = net.train()(x).square().mean()
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
    with torch.no_grad():
        evaluated = net.eval()(x).double().numpy()
    exported = net.to_integer()
    # float32 logits (q - zero point) * scale: exact for power-of-two scales, else to the nearest q
    got = np.rint(evaluated / exported.output_scale) + exported.output_zero_point
    assert np.array_equal(got, golden.predict(exported, raw))


def test_golden_runtime_maps_raw_input_to_int8_output_and_host_runtime_checks_its_sidecar(every_op, tmp_path):
    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.runtimes.micro_golden import MicroGolden
    from heiti.runtimes.micro_host import MicroHost

    graph, raw = every_op
    graph.save(tmp_path / "g.npz")
    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 3, 12, 12])],
                outputs=[TensorSpec(name="logits", shape=[-1, 5])])
    artifact = Artifact(path=tmp_path / "g.npz", format="micro-int8", io=io,
                        provenance=Provenance(producer="test"))
    runtime = MicroGolden()
    runtime.load(artifact)
    got = runtime.outputs(runtime.infer(runtime.prepare({"input": raw[:4]})))["logits"]
    assert got.dtype == np.int8 and np.array_equal(got, golden.predict(graph, raw[:4]))
    with pytest.raises(InputError, match="lacks"):
        MicroHost().load(artifact.model_copy(update={"format": "c-int8"}))


def test_an_input_scale_that_does_not_give_raw_bytes_is_rejected():
    from heiti.core.steps import StepContext
    from heiti.datasets.digits import Digits
    from heiti.micro.steps import input_scale

    ctx = StepContext(dataset=Digits(), build_dir=None)
    assert input_scale(None, ctx) == 1 / 16
    with pytest.raises(InputError, match="outside uint8"):
        input_scale(1 / 1024, ctx)


def test_the_stack_bound_follows_the_deepest_call_chain(tmp_path):
    """Frames on the chain run -> kernel -> helper add up; a kernel the model never calls
    (however large its frame) does not count."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("arm-none-eabi-gcc is not on PATH")
    from heiti.micro.build import M4_FLAGS, deepest_stack

    source = tmp_path / "chain.c"
    source.write_text(
        "#define F __attribute__((noinline)) int\n"
        "F helper(int x) { volatile int b[10]; b[0] = x; return b[0]; }\n"
        "F kernel(int x) { volatile int b[100]; b[0] = helper(x); return b[0]; }\n"
        "F unused(int x) { volatile int b[1000]; b[0] = x; return b[0]; }\n"
        "int heiti_model_run(int x) { return kernel(x) + helper(x); }\n")
    subprocess.run(["arm-none-eabi-gcc", *M4_FLAGS, str(source), "-o", str(tmp_path / "chain.o")],
                   cwd=tmp_path, check=True)
    frames = {line.split("\t")[0].rsplit(":", 1)[-1]: int(line.split("\t")[1])
              for line in (tmp_path / "chain.su").read_text().splitlines()}
    assert deepest_stack(tmp_path, "heiti_model_run") == (
        frames["heiti_model_run"] + frames["kernel"] + frames["helper"])
