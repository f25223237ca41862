"""ONNX optimizers on real models: graph folding, float16, dynamic int8."""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

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
