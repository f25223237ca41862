"""ONNX optimizers on real models: graph folding, float16, dynamic int8."""

import shutil

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from backend_helpers import digits_fixture  # noqa: F401
from conftest import run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.optimizers.onnx_graph import OnnxGraph


def _conv_bn_relu_model(path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(4, 1, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "gamma"),
             numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "beta"),
             numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "mean"),
             numpy_helper.from_array(rng.uniform(0.5, 2, 4).astype(np.float32), "var")]
    nodes = [helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["b"]),
             helper.make_node("Relu", ["b"], ["output"])]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_onnx_graph_folds_batch_norm_and_keeps_outputs(tmp_path):
    source = tmp_path / "in.onnx"
    _conv_bn_relu_model(source)
    spec = TensorSpec(name="input", shape=[1, 1, 8, 8])
    model = Artifact(path=source, format="onnx", io=IOSpec(inputs=[spec], outputs=[spec]),
                     provenance={"producer": "test"})
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=lambda m: None)
    result = OnnxGraph().optimize(model, tmp_path / "out.onnx", ctx)
    ops = [n.op_type for n in onnx.load(str(result.path)).graph.node]
    assert "BatchNormalization" not in ops and result.provenance.details["nodes_before"] == 3
    x = np.random.default_rng(1).normal(size=(1, 1, 8, 8)).astype(np.float32)
    before = ort.InferenceSession(str(source)).run(None, {"input": x})[0]
    after = ort.InferenceSession(str(result.path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-5)


def test_fp16_and_dynamic_int8_chains_run_end_to_end(workdir):
    import json

    for name, chain in (("fp16", [{"type": "onnx-export"}, {"type": "fp16"}]),
                        ("dyn", [{"type": "onnx-export"},
                                 {"type": "ort-quantize", "parameters": {"mode": "dynamic"}}])):
        path = write_scenario(workdir, scenario_dict(name, build_dir=name, optimizers=chain), f"{name}.yml")
        assert run_cli("test", path) == 0
    fp16 = json.loads((workdir / "fp16" / "measurements.json").read_text())
    dyn = json.loads((workdir / "dyn" / "measurements.json").read_text())
    exported = (workdir / "fp16" / "01-onnx-export.onnx").stat().st_size
    assert fp16["model"]["format"] == "onnx-fp16" and fp16["model"]["size_bytes"] < 0.7 * exported
    assert dyn["model"]["format"] == "onnx-int8"
    assert fp16["quality"]["metrics"]["accuracy"] > 0.85 and dyn["quality"]["metrics"]["accuracy"] > 0.85


def test_export_records_agreement_with_pytorch(workdir):
    assert run_cli("optimize", write_scenario(workdir, scenario_dict())) == 0
    sidecar = Artifact.load(workdir / "build" / "01-onnx-export.onnx")
    assert sidecar.provenance.details["max_abs_diff_vs_torch"] < 1e-4
    assert sidecar.provenance.input_sha256 == Artifact.load(workdir / "model" / "model.pt").sha256
    names = [i.name for i in sidecar.io.inputs], [o.name for o in sidecar.io.outputs]
    assert names == (["input"], ["logits"]) and sidecar.io.inputs[0].shape == [-1, 1, 8, 8]
    exported = onnx.load(str(sidecar.path))
    assert not any(n.metadata_props for n in exported.graph.node)  # no stack traces shipped


def test_int8_instruction_set_is_read_from_cpuinfo():
    from heiti.core import cpu

    flags = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma {}\nbugs\t\t: spectre_v1\n"
    assert cpu.instructions_from_cpuinfo(flags.format("avx512f avx512_vnni"), "x86_64") == "avx512_vnni"
    assert cpu.instructions_from_cpuinfo(flags.format("avx_vnni"), "x86_64") == "avx_vnni"
    assert cpu.instructions_from_cpuinfo(flags.format("avx512f"), "x86_64") == "none"
    assert cpu.instructions_from_cpuinfo("", "x86_64") == "unknown"  # no /proc/cpuinfo (macOS)
    assert cpu.instructions_from_cpuinfo("Features\t: fp asimd asimddp\n", "aarch64") == "not x86 (aarch64)"
    assert [cpu.saturates(i) for i in ("avx512_vnni", "avx_vnni", "none", "unknown", "not x86 (arm64)")] \
        == [False, False, True, True, False]
    assert cpu.int8_instructions() in ("avx512_vnni", "avx_vnni", "none") or not cpu.saturates(
        cpu.int8_instructions()) or cpu.int8_instructions() == "unknown"


def test_int8_loss_is_judged_against_the_margin_with_its_likely_cause():
    from heiti.core.cpu import int8_loss

    assert int8_loss("accuracy", 0.97, 0.96, True, "none", False) is None  # exactly 1 point: allowed
    assert int8_loss("mae", 0.10, 0.105, False, "none", False) is None  # lower is better: 0.5 points
    saturated = int8_loss("accuracy", 0.98, 0.95, True, "none", False)
    assert "3.0 points of accuracy" in saturated and "without VNNI" in saturated
    assert "reduce_range: true" in saturated
    elsewhere = int8_loss("accuracy", 0.98, 0.95, True, "avx512_vnni", False)
    assert "VNNI" not in elsewhere and "calibration" in elsewhere
    assert int8_loss("accuracy", 0.98, None, True, "none", True) is None


@pytest.fixture(scope="module")
def gap_head_model(tmp_path_factory):
    """A user-style network: MobileNetV2-like with a global-average-pool head, trained briefly
    on digits and exported to ONNX the way a user brings their own file."""
    import torch

    from heiti.frameworks.torch_tools import load_module

    folder = tmp_path_factory.mktemp("gap")
    model = {"type": "mobilenet-v2", "parameters": {"width": 0.25, "depth": 0.34, "stages": 4,
                                                     "last_channels": 32},
             "path": "model.pt", "train": {"epochs": 8, "lr": 0.003, "batch_size": 32}}
    assert run_cli("train", write_scenario(folder, scenario_dict(model=model))) == 0
    trained = Artifact.load(folder / "model.pt")
    path = folder / "model.onnx"
    torch.onnx.export(load_module(trained).eval(), torch.zeros(1, 1, 8, 8), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    io = IOSpec(inputs=[TensorSpec(name="x", shape=[-1, 1, 8, 8])],
                outputs=[TensorSpec(name="y", shape=[-1, 10])])
    return Artifact(path=path, format="onnx", io=io, provenance={"producer": "user"}).save()


def _accuracy(path, x, y) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(np.mean(session.run(None, {session.get_inputs()[0].name: x})[0].argmax(1) == y))


@pytest.mark.parametrize("name", ["tiny-cnn", "gap-head"])
def test_ort_quantize_defaults_lose_at_most_one_point_on_this_cpu(name, gap_head_model, tmp_path, request):
    """Whatever the CPU (VNNI or AVX2 only), the defaults pick reduce_range so that int8 keeps
    the float model's test accuracy within one point; the step records what it chose."""
    from heiti.core import cpu
    from heiti.optimizers.ort_quantize import OrtQuantize

    if name == "gap-head":
        floats = gap_head_model
    else:
        digits = request.getfixturevalue("digits")
        floats = digits.onnx
    messages: list[str] = []
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=messages.append)
    int8 = OrtQuantize().optimize(floats, tmp_path / "int8.onnx", ctx)
    test = Digits().split("test")
    loss = _accuracy(floats.path, test.x, test.truth) - _accuracy(int8.path, test.x, test.truth)
    assert loss <= 0.01, messages
    details = int8.provenance.details
    assert details["reduce_range"] == cpu.saturates(cpu.int8_instructions())
    assert details["int8_instructions"] == cpu.int8_instructions()
    assert details["float_check"]["metric"] == "accuracy" and details["float_check"]["samples"] > 0
    assert not any("warning" in m for m in messages), messages


def test_forced_full_range_on_a_cpu_without_vnni_warns_with_the_cause(digits, tmp_path, monkeypatch):
    """On a VNNI machine a CPU without VNNI cannot exist, so its detection is replaced there."""
    from heiti.core import cpu
    from heiti.optimizers.ort_quantize import OrtQuantize

    if not cpu.saturates(cpu.int8_instructions()):
        monkeypatch.setattr(cpu, "int8_instructions", lambda: cpu.NONE)
    messages: list[str] = []
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=messages.append)
    int8 = OrtQuantize({"reduce_range": False, "check_samples": 0}).optimize(
        digits.onnx, tmp_path / "int8.onnx", ctx)
    warning = next(m for m in messages if "warning" in m)
    assert "reduce_range: false" in warning and "without VNNI" in warning and "saturate" in warning
    assert int8.provenance.details["reduce_range"] is False
    assert int8.provenance.details["float_check"] is None
    quiet: list[str] = []
    OrtQuantize({"reduce_range": True, "check_samples": 0}).optimize(
        digits.onnx, tmp_path / "int8-7bit.onnx", StepContext(dataset=Digits(), build_dir=tmp_path,
                                                               log=quiet.append))
    assert not any("warning" in m for m in quiet)


def test_ort_quantize_with_the_wrong_channel_count_is_bad_input_with_the_size_hint(digits, tmp_path, capsys):
    """A user's one-channel ONNX model given colour images: exit 2 naming both shapes and the
    dataset parameters that fit, before ONNX Runtime's calibrator sees a sample."""
    from PIL import Image

    shutil.copyfile(digits.onnx.path, tmp_path / "model.onnx")
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / "images" / label / f"{i}.png")
    colour = {"type": "image-folder", "parameters": {"path": "images", "size": [8, 8]}}
    scenario = scenario_dict(dataset=colour,
                             model={"type": "onnx-file", "path": "model.onnx"},
                             optimizers=[{"type": "ort-quantize"}])
    assert run_cli("optimize", write_scenario(tmp_path, scenario)) == 2
    err = capsys.readouterr().err
    assert "the model expects" in err and "grayscale: true" in err and "Traceback" not in err


def test_comparison_report_warns_when_an_int8_run_loses_against_its_float_parent(torch_reference):
    """Two measurement documents of the same samples, the second made int8 and 2 points worse."""
    from heiti.pipeline.measurements import Measurements
    from heiti.report.content import comparison_sections

    floats = Measurements.model_validate(torch_reference)
    worse = floats.model_copy(deep=True, update={"name": "int8-run"})
    worse.model.format = "onnx-int8"
    worse.quality.metrics["accuracy"] -= 0.02
    worse.environment["host"]["int8_instructions"] = "none"
    notes = comparison_sections([floats, worse])[0].notes
    assert len(notes) == 1 and "'int8-run' against 'torch-reference'" in notes[0]
    assert "2.0 points of accuracy" in notes[0] and "likely cause" in notes[0]
    assert floats.environment["host"]["int8_instructions"]  # recorded by every run
    close = worse.model_copy(deep=True)
    close.quality.metrics["accuracy"] = floats.quality.metrics["accuracy"] - 0.005
    assert comparison_sections([floats, close])[0].notes == []


def test_the_float_check_runs_a_model_with_a_fixed_batch_of_one(digits, tmp_path):
    from heiti.optimizers.ort_quantize import OrtQuantize

    graph = onnx.load(str(digits.onnx.path))
    for value in (*graph.graph.input, *graph.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 1
    onnx.save(graph, str(tmp_path / "fixed.onnx"))
    io = digits.onnx.io.model_copy(deep=True)
    io.inputs[0].shape[0] = io.outputs[0].shape[0] = 1
    fixed = Artifact(path=tmp_path / "fixed.onnx", format="onnx", io=io, provenance={"producer": "test"})
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=lambda m: None)
    int8 = OrtQuantize({"check_samples": 30}).optimize(fixed, tmp_path / "int8.onnx", ctx)
    check = int8.provenance.details["float_check"]
    assert check["samples"] == 30 and check["float"] > 0.8 and check["int8"] > 0.8
