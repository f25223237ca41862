"""Tasks as components and named tensors end to end: a two-input, two-output ONNX model
evaluated locally and over a real `heiti server`, a toy task registered through the
entry-point group, the Python API, quality gates on any metric, and dataset/model
mismatches refused before inference."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, scenario_dict, write_scenario
from remote_helpers import server_process

pytest.importorskip("onnxruntime", reason="needs the onnx extra")

CLASSES = 3


def _two_by_two_model(path: Path) -> None:
    """inputs a[N,4] float32 and b[N,2] int64; outputs scores[N,3] = a @ Wa + float(b) @ Wb
    and energy[N,1] = sum(a * a)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    wa = numpy_helper.from_array(rng.normal(size=(4, CLASSES)).astype(np.float32), "wa")
    wb = numpy_helper.from_array(rng.normal(size=(2, CLASSES)).astype(np.float32), "wb")
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Cast", ["b"], ["bf"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["a", "wa"], ["sa"]),
        helper.make_node("MatMul", ["bf", "wb"], ["sb"]),
        helper.make_node("Add", ["sa", "sb"], ["scores"]),
        helper.make_node("Mul", ["a", "a"], ["sq"]),
        helper.make_node("ReduceSum", ["sq", "axes"], ["energy"], keepdims=1),
    ]
    graph = helper.make_graph(
        nodes, "two_by_two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["n", 4]),
         helper.make_tensor_value_info("b", TensorProto.INT64, ["n", 2])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["n", CLASSES]),
         helper.make_tensor_value_info("energy", TensorProto.FLOAT, ["n", 1])],
        initializer=[wa, wb, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


@pytest.fixture(scope="module")
def two_by_two(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("two-by-two")
    _two_by_two_model(folder / "model.onnx")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(90, 4)).astype(np.float32)
    b = rng.integers(-3, 4, size=(90, 2)).astype(np.int64)
    np.savez(folder / "data.npz", a=a, b=b, labels=rng.integers(0, CLASSES, 90))
    return folder


def _scenario(name: str, target: dict, **test) -> dict:
    return {
        "name": name, "build_dir": f"build/{name}",
        "task": {"type": "classification", "parameters": {"output": "scores"}},
        "dataset": {"type": "npz-arrays", "parameters": {"path": "data.npz"}},
        "model": {"type": "onnx-file", "path": "model.onnx"},
        "runtime": {"type": "onnxruntime"}, "target": target,
        "test": {"warmup": 1, "save_outputs": True, "split": "all", **test},
        "report": {"enabled": False},
    }


def test_two_inputs_two_outputs_locally_and_over_heiti_server(two_by_two, tmp_path):
    import heiti.api as heiti

    local = heiti.run(heiti.scenario(_scenario("local", {"kind": "local"}), base_dir=two_by_two))
    assert local.quality.samples == 90 and local.dataset.split == "all"
    assert [s["name"] for s in local.model.io["inputs"]] == ["a", "b"]
    outputs = np.load(two_by_two / "build/local/outputs.npz")
    assert sorted(outputs.files) == ["energy", "scores"]
    data = np.load(two_by_two / "data.npz")
    np.testing.assert_allclose(outputs["energy"][:, 0], (data["a"] ** 2).sum(axis=1), rtol=1e-5)

    with server_process(tmp_path / "server.log", "--port", "0") as (_, port):
        remote = heiti.run(heiti.scenario(
            _scenario("remote", {"kind": "remote", "protocol": "tcp", "port": int(port)},
                      batch_size=4), base_dir=two_by_two))
    over_wire = np.load(two_by_two / "build/remote/outputs.npz")
    for name in ("scores", "energy"):  # every output crosses the wire, bit for bit
        assert np.array_equal(over_wire[name], outputs[name])
    assert remote.quality.predictions == local.quality.predictions
    assert remote.performance.target_latency_ms is not None


def test_predictions_csv_names_each_sample(two_by_two):
    import csv

    import heiti.api as heiti

    heiti.run(heiti.scenario(_scenario("csv", {"kind": "local"}, samples=5), base_dir=two_by_two))
    rows = list(csv.DictReader((two_by_two / "build/csv/predictions.csv").open()))
    labels = np.load(two_by_two / "data.npz")["labels"][:5]
    assert [r["sample"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [int(r["truth"]) for r in rows] == labels.tolist()
    assert all(r["prediction"] in {"0", "1", "2"} for r in rows)


def test_a_task_without_a_named_output_is_refused_before_inference(two_by_two, capsys):
    data = _scenario("ambiguous", {"kind": "local"})
    del data["task"]  # classification, but the model has two outputs
    code = run_cli("test", write_scenario(two_by_two, data, "ambiguous.yml"))
    assert code == 2
    err = capsys.readouterr().err
    assert "2 outputs (scores, energy)" in err and "'output' parameter" in err
    assert not (two_by_two / "build/ambiguous/measurements.json").exists()


def test_a_model_with_fewer_outputs_than_classes_is_refused(two_by_two, capsys):
    np.savez(two_by_two / "five.npz", **{k: v for k, v in np.load(two_by_two / "data.npz").items()
                                         if k != "labels"},
             labels=np.arange(90) % 5)
    data = _scenario("five", {"kind": "local"})
    data["dataset"]["parameters"]["path"] = "five.npz"
    assert run_cli("test", write_scenario(two_by_two, data, "five.yml")) == 2
    err = capsys.readouterr().err
    assert "scores 3 classes" in err and "has 5" in err


@pytest.mark.parametrize("a, b, expected", [
    (np.zeros((90, 5), np.float32), np.zeros((90, 2), np.int64), ("float32[?x4]", "float32[?x5]")),
    (np.zeros((90, 4), np.float32), np.zeros((90, 2), np.float32), ("int64[?x2]", "float32[?x2]")),
], ids=["shape", "dtype"])
def test_an_input_that_does_not_fit_is_refused_with_both_sides(two_by_two, capsys, a, b, expected):
    np.savez(two_by_two / "misfit.npz", a=a, b=b, labels=np.arange(90) % CLASSES)
    data = _scenario("misfit", {"kind": "local"})
    data["dataset"]["parameters"]["path"] = "misfit.npz"
    assert run_cli("test", write_scenario(two_by_two, data, "misfit.yml")) == 2
    err = capsys.readouterr().err
    assert all(text in err for text in expected), err


def test_an_image_folder_that_does_not_fit_gets_a_parameter_hint(tmp_path, capsys):
    from PIL import Image

    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.datasets.image_folder import ImageFolder

    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        Image.new("RGB", (20, 20)).save(tmp_path / "images" / label / "x.png")
    dataset = ImageFolder({"path": tmp_path / "images"})
    io = IOSpec(inputs=[TensorSpec(name="x", shape=[-1, 1, 16, 16])], outputs=[])
    assert dataset.fit_hint(io) == ("set 'size: [16, 16]' and 'grayscale: true' in the image-folder "
                                    "parameters")


def test_quality_gate_on_any_metric_and_the_accuracy_alias(workdir, capsys):
    gated = scenario_dict(test={"warmup": 0, "samples": 30, "min_metric": {"macro_f1": 1.01}})
    assert run_cli("test", write_scenario(workdir, gated)) == 1
    assert "macro_f1" in capsys.readouterr().err
    alias = scenario_dict(test={"warmup": 0, "samples": 30, "min_accuracy": 0.5})
    assert run_cli("test", write_scenario(workdir, alias)) == 0
    ceiling = scenario_dict(test={"warmup": 0, "samples": 30, "max_metric": {"accuracy": 0.1}})
    assert run_cli("test", write_scenario(workdir, ceiling)) == 1
    unknown = scenario_dict(test={"warmup": 0, "samples": 30, "min_metric": {"mAP": 0.5}})
    assert run_cli("test", write_scenario(workdir, unknown)) == 2
    assert "does not measure" in capsys.readouterr().err


def test_the_api_validates_an_in_memory_scenario_like_a_file(tmp_path):
    import heiti.api as heiti
    from heiti.errors import InputError

    with pytest.raises(InputError, match=r"test\.batch_size"):
        heiti.scenario(scenario_dict(test={"batch_size": 0}), base_dir=tmp_path)
    loaded = heiti.scenario(scenario_dict(), name="kw", base_dir=tmp_path)
    assert loaded.name == "kw" and loaded.build_dir == (tmp_path / "build").resolve()
    assert loaded.task.name == "classification" and loaded.task.primary_metric == "accuracy"


TOY_TASK = textwrap.dedent('''
    import numpy as np
    from heiti.core.task import Task

    class Parity(Task):
        """Is the sum of the inputs' first values even? Mean absolute error of the score."""
        name = "parity"
        primary_metric = "mae"
        higher_is_better = False

        def evaluate(self, data, outputs, info):
            score = outputs[self.output_name(outputs, "scores")][:, 0]
            return self.quality(data, {"mae": float(np.mean(np.abs(score - data.truth)))},
                                predictions=score.round(3).tolist())
''')


def test_a_toy_task_registers_through_the_entry_point_group(two_by_two, tmp_path):
    site = tmp_path / "site"
    (site / "toy_task.py").parent.mkdir()
    (site / "toy_task.py").write_text(TOY_TASK)
    info = site / "toy_task-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-task\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[heiti.components]\nparity = toy_task:Parity\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run([sys.executable, "-m", "heiti", "list", "--kind", "task"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and "parity" in listed.stdout and "classification" in listed.stdout
    data = _scenario("parity", {"kind": "local"}, max_metric={"mae": 100.0})
    data["task"] = {"type": "parity"}
    done = subprocess.run([sys.executable, "-m", "heiti", "test",
                           str(write_scenario(two_by_two, data, "parity.yml"))],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "mae" in done.stderr
