"""heiti onnx-grid: export/import status per model and framework, errors kept as text."""

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from heiti.onnxgrid import base

pytest.importorskip("onnxruntime")


class FakeFramework(base.GridFramework):
    """Numpy 'models' (a matrix): export writes a MatMul graph, or misbehaves on purpose."""

    name = "fake"

    def version(self):
        return "1.0"

    def models(self):
        weight = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
        return {"good": lambda: (weight, np.ones((2, 4), np.float32)),
                "wrong-numbers": lambda: (weight, np.ones((2, 4), np.float32)),
                "raises": lambda: (weight, np.ones((2, 4), np.float32))}

    def predict(self, model, x):
        return x @ model

    def export(self, model, x, path: Path):
        import onnx
        from onnx import TensorProto, helper, numpy_helper

        if path.stem == "raises":
            raise ValueError("operator Foo is not supported")
        scale = 1.5 if path.stem == "wrong-numbers" else 1.0
        graph = helper.make_graph(
            [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
            [numpy_helper.from_array(model * scale, "w")])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)

    def import_onnx(self, path):
        from onnx import load, numpy_helper

        return numpy_helper.to_array(load(path).graph.initializer[0])


def test_each_outcome_has_its_status(tmp_path):
    grid = base.build_grid(tmp_path, [FakeFramework()], log=lambda _: None)
    good, wrong, raises = (grid.cell(m, "fake") for m in ("good", "wrong-numbers", "raises"))
    assert good.text == "supported / supported" and good.detail == ""
    assert wrong.text == "ERROR / unverified" and "outputs differ" in wrong.export_detail
    assert raises.text == "ERROR / unverified"
    assert raises.export_detail == "ValueError: operator Foo is not supported"


def test_grid_command_renders_statuses_with_error_text(tmp_path, capsys):
    out = tmp_path / "grid"
    assert run_cli("onnx-grid", "--models", "tiny-cnn,svd-features,random-forest", "-o", out) == 0
    grid = json.loads((out / "grid.json").read_text())
    cells = {(c["model"], c["framework"]): c for c in grid["cells"]}
    assert cells[("tiny-cnn", "pytorch")]["export"] == "supported"
    assert cells[("tiny-cnn", "pytorch")]["import_"] in ("supported", "unsupported", "ERROR")
    failing = cells[("svd-features", "pytorch")]
    assert (failing["export"], failing["import_"]) == ("ERROR", "unverified")
    assert "svd" in failing["export_detail"]
    if "scikit-learn" in grid["frameworks"]:
        assert cells[("random-forest", "pytorch")]["export"] == "not provided"
        assert cells[("random-forest", "scikit-learn")]["export"] == "supported"
    markdown = (out / "report.md").read_text()
    assert "| svd-features | ERROR / unverified [^" in markdown and "_linalg_svd" in markdown
    assert "<details><summary>ERROR / unverified</summary>" in (out / "report.html").read_text()


def test_unknown_framework_is_bad_input(tmp_path, capsys):
    assert run_cli("onnx-grid", "--frameworks", "mxnet", "-o", tmp_path) == 2
    assert "framework 'mxnet' is unknown or not installed" in capsys.readouterr().err
