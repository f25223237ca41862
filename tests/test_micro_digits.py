"""heiti micro on the whole digits test set: the C engine, the golden model and the
QAT network in evaluation mode give bit-identical int8 outputs; QAT stays within one
point of fp32; an ort-quantize QDQ model imports within one unit of ONNX Runtime."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.core.steps import StepContext
from heiti.datasets.digits import Digits
from heiti.errors import InputError
from heiti.micro import golden
from heiti.micro.build import HostModel, host_library
from heiti.micro.codegen import generate
from heiti.micro.graph import Graph, raw_input

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def env(tmp_path_factory, trained_model_dir):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("micro-cache")))
    dataset = Digits()
    ctx = StepContext(dataset=dataset, build_dir=tmp_path_factory.mktemp("micro"), log=lambda m: None)
    yield Artifact.load(trained_model_dir / "model" / "model.pt"), ctx
    mp.undo()


def _c_outputs(graph: Graph, folder: Path, raw: np.ndarray) -> np.ndarray:
    generate(graph, folder)
    return HostModel(host_library(folder), raw[0].size, graph.tensors[graph.output].size).predict(raw)


def _accuracy(outputs: np.ndarray, truth: np.ndarray) -> float:
    return float((outputs.argmax(1) == truth).mean())


def test_qat_eval_golden_and_c_are_bit_identical_and_qat_is_near_fp32(env):
    from heiti.frameworks.torch_tools import load_module
    from heiti.frameworks.torch_training import evaluate_split
    from heiti.micro.steps import train_qat
    from heiti.optimizers.micro_qat import MicroQat

    model, ctx = env
    test = ctx.dataset.split("test")
    net, _ = train_qat(model, ctx, MicroQat.Params(epochs=4))
    net.eval()
    graph = net.to_integer()
    with torch.no_grad():
        qat = net(torch.from_numpy(test.x)).numpy().astype(np.float64) / graph.output_scale
    raw = raw_input(test.x, graph.input_scale)
    gold = golden.predict(graph, raw)
    c = _c_outputs(graph, ctx.build_dir / "qat-c", raw)
    assert np.array_equal(qat, gold) and np.array_equal(c, gold)
    fp32 = evaluate_split(load_module(model), test, ctx.dataset.task, ["logits"])[1]
    assert _accuracy(c, test.truth) == _accuracy(gold, test.truth) == _accuracy(qat, test.truth)
    assert _accuracy(c, test.truth) >= fp32 - 0.01


@pytest.mark.parametrize("scheme", ["pow2", "per-channel"])
def test_ptq_c_engine_equals_golden(env, scheme):
    from heiti.optimizers.micro_ptq import MicroPtq

    model, ctx = env
    test = ctx.dataset.split("test")
    artifact = MicroPtq({"scheme": scheme}).optimize(model, ctx.build_dir / f"{scheme}.npz", ctx)
    graph = Graph.load(artifact.path)
    raw = raw_input(test.x, graph.input_scale)
    gold = golden.predict(graph, raw)
    assert np.array_equal(_c_outputs(graph, ctx.build_dir / f"{scheme}-c", raw), gold)
    assert _accuracy(gold, test.truth) > 0.9


# Symmetric activations (zero point 0) as heiti micro's kernels. ort-quantize's default
# asymmetric activations also pass on this model (99.0 % within +-1, top-1 100 %), but
# too close to the bar to hold on every CPU, so docs/micro.md reports them instead.
@pytest.mark.parametrize("symmetric", [True], ids=["symmetric"])
def test_ort_qdq_import_agrees_with_onnx_runtime(env, symmetric):
    ort = pytest.importorskip("onnxruntime")
    from heiti.optimizers.micro_import_onnx import MicroImportOnnx
    from heiti.optimizers.onnx_export import OnnxExport
    from heiti.optimizers.ort_quantize import OrtQuantize

    model, ctx = env
    test = ctx.dataset.split("test")
    exported = ctx.build_dir / "m.onnx"
    if not exported.exists():
        OnnxExport({"check_samples": 0}).optimize(model, exported, ctx).save()
    settings = {"per_channel": True, "reduce_range": True, "symmetric_activations": symmetric}
    qdq = OrtQuantize(settings).optimize(Artifact.load(exported), ctx.build_dir / f"q{symmetric}.onnx", ctx)
    qdq.save()
    imported = MicroImportOnnx().optimize(qdq, ctx.build_dir / f"q{symmetric}.npz", ctx)
    assert imported.provenance.details["onnxruntime_agreement"]["top1"] >= 0.995  # checked at import
    graph = Graph.load(imported.path)
    with pytest.raises(InputError, match="scheme 'pow2' cannot hold"):  # not silently ignored
        MicroImportOnnx({"scheme": "pow2"}).optimize(qdq, ctx.build_dir / "pow2.npz", ctx)
    raw = raw_input(test.x, graph.input_scale)
    c = _c_outputs(graph, ctx.build_dir / f"qdq-c-{symmetric}", raw).astype(np.int64)
    session = ort.InferenceSession(str(qdq.path), providers=["CPUExecutionProvider"])
    reference = session.run(None, {session.get_inputs()[0].name: test.x})[0]
    # ONNX Runtime's int8 outputs, without their zero point, on the imported model's grid
    ort_units = np.rint(reference / graph.output_scale).astype(np.int64)
    within_one = np.mean(np.abs(c - ort_units) <= 1)
    top1 = np.mean(c.argmax(1) == reference.argmax(1))
    print(f"QDQ symmetric={symmetric}: within +-1 {within_one:.4f}, top-1 agreement {top1:.4f}")
    assert within_one >= 0.99 and top1 >= 0.995


def test_micro_chain_runs_through_the_cli(workdir):
    chain = [{"type": "micro-ptq"}, {"type": "micro-c", "parameters": {"cortex_m4": False}}]
    data = scenario_dict(optimizers=chain, runtime={"type": "micro-host"})
    assert run_cli("run", write_scenario(workdir, data)) == 0
    sidecar = Artifact.load(workdir / "build" / "02-micro-c")
    assert sidecar.provenance.details["host_equals_golden_samples"] == 32
    assert sidecar.provenance.details["arena_bytes"] <= sidecar.provenance.details["naive_bytes"]
    report = (workdir / "build" / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Quantization sensitivity" in report and "SQNR dB" in report
    plots = list((workdir / "build" / "report").glob("sensitivity*.png"))
    assert len(plots) == 1 and plots[0].stat().st_size > 1000


def test_sensitivity_names_the_layer_a_scheme_crushes(env):
    """A range 1000 times too wide for one convolution crushes its int8 output: the warning
    names that layer first, and its SQNR is the lowest."""
    from heiti.micro.quantize import calibrate, to_integer
    from heiti.micro.steps import SensitivityParams, sensitivity, torch_float_graph

    model, ctx = env
    _, floats = torch_float_graph(model, 1 / 16)
    ranges = calibrate(floats, ctx.dataset.split("calibration").x[:200])
    crushed = next(i for i, op in enumerate(floats.ops) if op.kind == "conv2d" and i > 1)
    ranges[floats.ops[crushed].output] *= 1000
    graph = to_integer(floats, ranges, "per-channel")
    said: list[str] = []
    result = sensitivity(floats, graph, StepContext(dataset=ctx.dataset, build_dir=ctx.build_dir,
                                                    log=said.append),
                         SensitivityParams(sensitivity_samples=150), "test")
    assert result["loss_points"] > 1 and result["float"] > 0.9
    warning = next(line for line in said if "warning" in line)
    assert f"most sensitive layers: {crushed} conv2d" in warning
    lowest = min(result["layers"], key=lambda layer: layer["sqnr_db"])
    assert lowest["index"] == crushed and lowest["sqnr_db"] < 10
    # the model's own names (module paths), pooling layers included
    assert "maxpool" in [layer["kind"] for layer in result["layers"]]
    assert not any(re.fullmatch(r"t\d+", layer["tensor"]) for layer in result["layers"])


def test_a_dataset_of_another_image_size_is_refused_naming_both_shapes(env, tmp_path):
    """micro-ptq of the 1x8x8 digits model on 1x10x10 samples: an InputError (exit 2) naming
    both shapes, not a NumPy reshape error from calibration."""
    from heiti.datasets.npz_arrays import NpzArrays
    from heiti.optimizers.micro_ptq import MicroPtq

    model, _ = env
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "big.npz", x=rng.integers(0, 17, (300, 1, 10, 10)) / 16, labels=np.arange(300) % 10)
    ctx = StepContext(dataset=NpzArrays({"path": str(tmp_path / "big.npz")}), build_dir=tmp_path,
                      log=lambda m: None)
    with pytest.raises(InputError, match=r"samples are \[1, 10, 10\], the model takes \[1, 8, 8\]"):
        MicroPtq().optimize(model, tmp_path / "g.npz", ctx)
