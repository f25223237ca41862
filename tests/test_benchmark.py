"""``heiti benchmark``: bare model files timed with real ONNX Runtime (and OpenVINO when
installed), synthetic inputs, JSON/CSV output, per-layer profiles and the refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason='ONNX Runtime is not installed: pip install "heiti[onnx]"')

from conftest import run_cli, scenario_dict, write_scenario  # noqa: E402
from heiti.core.iospec import IOSpec, TensorSpec  # noqa: E402
from heiti.pipeline.benchmark import synthetic_inputs  # noqa: E402


def _tiny_onnx(path: Path, batch: int | str = "N", width: int | str = 8) -> Path:
    """Conv -> Relu -> Reshape -> MatMul on a 1x8x8 input (dynamic batch by default)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.standard_normal((8, 1, 3, 3)).astype(np.float32), "w"),
               numpy_helper.from_array(rng.standard_normal((288, 10)).astype(np.float32), "g"),
               numpy_helper.from_array(np.array([-1, 288], dtype=np.int64), "s")]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Reshape", ["r", "s"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "g"], ["y"], name="fc")]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 8, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return _tiny_onnx(tmp_path_factory.mktemp("bench") / "tiny.onnx")


def test_onnx_file_timed_with_percentiles_json_and_csv(tiny, tmp_path, capsys):
    out_json, out_csv = tmp_path / "b.json", tmp_path / "b.csv"
    assert run_cli("benchmark", tiny, "--iterations", "30", "--warmup", "2", "--batch", "3",
                   "--json", out_json, "--csv", out_csv) == 0
    table = capsys.readouterr().out
    assert "latency ms" in table and "p99" in table and "samples/s" in table
    figures = json.loads(out_json.read_text())
    assert figures["runtime"] == "onnxruntime" and figures["inputs"] == {"x": [3, 1, 8, 8]}
    assert figures["iterations"] == 30 and figures["batch_size"] == 3 and figures["profile"] == []
    lat = figures["latency_ms"]
    assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]
    assert figures["versions"]["onnxruntime"] and figures["host"]["cpu_count"] >= 1
    rows = list(csv.DictReader(out_csv.open()))
    assert len(rows) == 1 and rows[0]["runtime"] == "onnxruntime"
    assert float(rows[0]["latency_p50_ms"]) == pytest.approx(lat["p50"])


def test_profile_names_the_layers_of_the_optimized_graph(tiny, tmp_path, capsys):
    out_csv = tmp_path / "b.csv"
    assert run_cli("benchmark", tiny, "--iterations", "5", "--profile", "--profile-runs", "4",
                   "--csv", out_csv, "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)  # '-': JSON alone on stdout, no table
    layers = figures["profile"]
    # ONNX Runtime fuses Conv+Relu; the MatMul keeps its node name; each layer names the
    # model's nodes it computes
    assert {"fc"} <= {layer["name"] for layer in layers}
    nodes = {layer["op_type"]: layer["nodes"] for layer in layers}
    assert nodes["Conv"] == ["conv", "relu"] and nodes["MatMul"] == ["fc"]
    assert {"Conv", "MatMul"} <= {layer["op_type"] for layer in layers}
    assert sum(layer["share"] for layer in layers) == pytest.approx(1.0)
    assert figures["profile_runs"] == 4
    assert [r["name"] for r in csv.DictReader((tmp_path / "b-layers.csv").open())] == \
        [layer["name"] for layer in layers]


def test_openvino_ir_file_with_its_performance_counters(tiny, tmp_path, capsys):
    ov = pytest.importorskip("openvino", reason='OpenVINO is not installed: pip install "heiti[openvino]"')
    ov.save_model(ov.convert_model(str(tiny)), str(tmp_path / "tiny.xml"))
    assert run_cli("benchmark", tmp_path / "tiny.xml", "--iterations", "5", "--profile",
                   "--profile-runs", "3", "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["runtime"] == "openvino" and figures["format"] == "openvino"
    assert {"Convolution"} <= {layer["op_type"] for layer in figures["profile"]}
    # from the ONNX file itself, OpenVINO's renamed nodes are traced back to the model's
    assert run_cli("benchmark", tiny, "--runtime", "openvino", "--iterations", "5", "--profile",
                   "--profile-runs", "3", "--json", "-") == 0
    layers = json.loads(capsys.readouterr().out)["profile"]
    traced = {node for layer in layers for node in layer["nodes"]}
    assert {"conv", "fc"} <= traced
    assert all(layer["nodes"] == [] for layer in layers if layer["op_type"] == "Reorder")


def test_a_heiti_artifact_is_read_from_its_sidecar(workdir, capsys):
    scenario = write_scenario(workdir, scenario_dict())
    assert run_cli("optimize", scenario) == 0
    artifact = workdir / "build" / "01-onnx-export.onnx"
    capsys.readouterr()
    assert run_cli("benchmark", artifact, "--iterations", "5", "--fill", "zeros", "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["fill"] == "zeros" and figures["inputs"] == {"input": [1, 1, 8, 8]}


def test_synthetic_inputs_follow_the_io_specification():
    io = IOSpec(inputs=[TensorSpec(name="a", shape=[-1, 4], dtype="float32"),
                        TensorSpec(name="q", shape=[-1, 3], dtype="int8", scale=0.1, zero_point=0)],
                outputs=[])
    shapes = {"a": [2, 4], "q": [2, 3]}
    first = synthetic_inputs(io, shapes, 5, "random")
    assert first["a"].shape == (10, 4) and first["a"].dtype == np.float32
    assert first["q"].dtype == np.int8 and first["q"].min() < 0 < first["q"].max()
    assert 0 <= first["a"].min() and first["a"].max() < 1
    np.testing.assert_array_equal(first["a"], synthetic_inputs(io, shapes, 5, "random")["a"])
    assert not synthetic_inputs(io, shapes, 5, "zeros")["q"].any()


@pytest.mark.parametrize("args, message", [
    (["--runtime", "litert"], "runtime 'litert' does not run onnx models"),
    (["--runtime", "onnxruntim"], "did you mean 'onnxruntime'"),
    (["--runtime", "micro-host", "--profile"], "does not run onnx models"),
    (["--shape", "nope=1x2"], "--shape names nope"),
    (["--threads", "-1"], "--threads must be 0"),
])
def test_bad_arguments_exit_2_with_a_hint(tiny, args, message, capsys):
    assert run_cli("benchmark", tiny, *args) == 2
    assert message in capsys.readouterr().err


def test_bad_files_exit_2(tmp_path, capsys):
    (tmp_path / "garbage.onnx").write_bytes(b"not a model")
    (tmp_path / "notes.txt").write_text("hello")
    for path, message in [(tmp_path / "missing.onnx", "does not exist"),
                          (tmp_path / "garbage.onnx", "is not a valid ONNX model"),
                          (tmp_path / "notes.txt", "is not a model file")]:
        assert run_cli("benchmark", path) == 2
        assert message in capsys.readouterr().err


def test_dynamic_dimensions_besides_the_batch_need_a_shape(tmp_path, capsys):
    model = _tiny_onnx(tmp_path / "wide.onnx", width="W")
    assert run_cli("benchmark", model, "--iterations", "2") == 2
    assert "--shape x=1x1x8x1" in capsys.readouterr().err
    assert run_cli("benchmark", model, "--iterations", "2", "--shape", "x=1x1x8x8") == 0


def test_a_runtime_without_a_profiler_is_refused(workdir, capsys):
    trained = workdir / "model" / "model.pt"  # a heiti artifact run by the torch runtime
    assert run_cli("benchmark", trained, "--profile") == 2
    err = capsys.readouterr().err
    assert "runtime 'torch' has no per-layer profiler" in err and "onnxruntime, openvino" in err
    assert run_cli("benchmark", trained, "--iterations", "3") == 0


def test_a_model_file_timed_on_a_remote_target(tiny, tmp_path, capsys):
    from remote_helpers import server_process

    with server_process(tmp_path / "server.log", "--port", "0") as (_, port):
        assert run_cli("benchmark", tiny, "--target", f"remote:port={port}", "--iterations", "8",
                       "--warmup", "1", "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["target"] == "remote" and figures["runtime"] == "onnxruntime"
    assert 0 < figures["target_latency_ms"]["p50"] <= figures["latency_ms"]["max"]


def test_bad_targets_exit_2(tiny, capsys):
    assert run_cli("benchmark", tiny, "--target", "remote:port") == 2
    assert "is not KEY=VALUE" in capsys.readouterr().err
    assert run_cli("benchmark", tiny, "--target", "qemu:bord=x") == 2
    assert "--target.parameters.bord" in capsys.readouterr().err
    assert run_cli("benchmark", tiny, "--target", "remote:port=1", "--profile") == 2
    assert "profiles on this host only" in capsys.readouterr().err
