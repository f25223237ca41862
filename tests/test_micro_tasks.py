"""Every task on a board: heiti's own detection model (center-detector: dilated 3x3
convolutions, a sigmoid heatmap head and a box head, two outputs) and anomaly model (the dense
autoencoder on signed vibration windows) go litert-convert (int8) -> micro-import-tflite ->
micro-c onto the emulated mps2-an386. The board's raw int8 outputs equal the golden model's
and TensorFlow Lite Micro's on every value, and the task's metric comes out of the host's
post-processing of the board's outputs. The anomaly model also goes through heiti's own
micro-ptq and micro-qat (signed windows as raw int8): board == golden. TFLite's int8 LOGISTIC alone equals
TFLM on every int8 input for several input grids."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli, write_scenario
from heiti.core.artifact import Artifact

pytest.importorskip("torch")
pytest.importorskip("tflite_micro", reason='tflite-micro not installed: pip install "heiti[tflm]"')
ON_BOARD = all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc"))
C = {"type": "micro-c", "parameters": {"check_samples": 8, "cortex_m4": False}}
LITERT = [{"type": "litert-convert", "parameters": {"quantization": "int8", "calibration_samples": 32}},
          {"type": "micro-import-tflite"}, C]
# tiny versions of examples/boards/shapes-mps2-an386.yml and anomaly-mps2-an386.yml
TASKS = {
    "detection": {"dataset": {"type": "shapes", "parameters": {"seed": 0, "images": 120, "size": 32}},
                  "model": {"type": "center-detector",
                            "parameters": {"stem": [8, 16], "width": 8, "dilations": [1, 2]}},
                  "metric": "map50", "samples": 6, "chain": LITERT},
    "anomaly": {"dataset": {"type": "sensor-windows",
                            "parameters": {"seed": 0, "windows": 200, "channels": 3, "length": 32}},
                "model": {"type": "autoencoder", "parameters": {"hidden": [32], "latent": 8}},
                "metric": "roc_auc", "samples": 24, "chain": LITERT},
}
TASKS["anomaly-ptq"] = dict(TASKS["anomaly"], chain=[
    {"type": "micro-ptq", "parameters": {"scheme": "per-channel", "calibration_samples": 64,
                                         "sensitivity_samples": 0}}, C])
TASKS["anomaly-qat"] = dict(TASKS["anomaly"], chain=[
    {"type": "micro-qat", "parameters": {"scheme": "tflite", "epochs": 1, "sensitivity_samples": 0}}, C])


def tflm_outputs(path: Path, raw: np.ndarray, count: int = 1) -> list[np.ndarray]:
    """TFLM's int8 outputs (the model's first ``count`` outputs), one sample per invocation."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    shape = interpreter.get_input_details(0)["shape"]
    found: list[list[np.ndarray]] = [[] for _ in range(count)]
    for sample in raw:
        interpreter.set_input(sample.reshape(shape), 0)
        interpreter.invoke()
        for k in range(count):
            found[k].append(interpreter.get_output(k).copy())
    return [np.stack(values) for values in found]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("tasks-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def runs(cache, tmp_path_factory):
    """Each task trained a few epochs and run through the CLI on mps2-an386 (on the host's C
    engine when QEMU or the cross compiler is missing)."""
    pytest.importorskip("litert_torch", reason='pip install "heiti[litert-convert]" for litert-torch')
    folders = {}
    for task, spec in TASKS.items():
        folder = tmp_path_factory.mktemp(task)
        model = dict(spec["model"], path="model/model.pt",
                     train={"epochs": 2, "lr": 0.004, "batch_size": 32, "patience": None})
        data = {"name": task, "build_dir": "build", "seed": 0, "dataset": spec["dataset"], "model": model,
                "optimizers": spec["chain"], "runtime": {"type": "micro-host"},
                "test": {"warmup": 0, "samples": spec["samples"]}, "report": {"enabled": False}}
        if ON_BOARD:
            data["target"] = {"kind": "qemu", "board": "mps2-an386"}
        assert run_cli("run", write_scenario(folder, data)) == 0
        folders[task] = folder / "build"
    return folders


@pytest.mark.parametrize("task", list(TASKS))
def test_the_task_runs_on_the_board_equal_to_golden_and_tflm_with_the_hosts_metric(runs, task):
    from heiti.datasets.sensor_windows import SensorWindows
    from heiti.datasets.shapes import Shapes
    from heiti.micro import golden
    from heiti.micro.graph import Graph
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    build, litert = runs[task], TASKS[task]["chain"] is LITERT
    document = json.loads((build / "measurements.json").read_text())
    assert np.isfinite(document["quality"]["metrics"][TASKS[task]["metric"]])  # the host's post-processing
    first = TASKS[task]["chain"][0]["type"]
    graph = Graph.load(build / ("02-micro-import-tflite.npz" if litert else f"01-{first}.npz"))
    artifact = Artifact.load(build / ("03-micro-c" if litert else "02-micro-c"))
    names = [spec.name for spec in artifact.io.outputs]
    dataset = (Shapes if task == "detection" else SensorWindows)(TASKS[task]["dataset"]["parameters"])
    raw = artifact.io.inputs[0].quantize(dataset.split("test").x[: TASKS[task]["samples"]])
    assert raw.dtype == np.int8 and (task == "detection" or raw.min() < 0)  # signed windows travel as int8
    assert len(names) == len(graph.outputs) == (2 if task == "detection" else 1)
    want = graph.split_outputs(golden.predict(graph, raw))
    if litert:  # the golden model is TFLM's integers
        for mine, theirs in zip(want, tflm_outputs(build / "01-litert-convert.tflite", raw, len(names)),
                                strict=True):
            assert np.array_equal(mine.reshape(theirs.shape), theirs)
    if task == "detection":
        assert "logistic" in [op.kind for op in graph.ops]
        assert any(op.attrs.get("dilation", 1) == 2 for op in graph.ops)
    if not ON_BOARD:
        pytest.skip("QEMU or arm-none-eabi-gcc missing (.ci/apt-packages): golden == TFLM checked only")
    executor = Qemu({"board": "mps2-an386"}).open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    for name, theirs in zip(names, want, strict=True):
        assert loop.outputs[name].dtype == np.int8
        assert np.array_equal(loop.outputs[name].reshape(theirs.shape), theirs)
    assert len(np.unique(np.concatenate([w.reshape(-1) for w in want]))) > 2  # not a saturated constant
    assert executor.target_statistics["board"]["inferences"] == len(raw)
    assert document["resources"]["target"]["board"]["name"] == "mps2-an386"


def _logistic_model(scale: float, zero_point: int) -> bytes:
    """A .tflite holding one int8 LOGISTIC over 256 values (input grid ``scale``/``zero_point``)."""
    import flatbuffers
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    def tensor(name: bytes, s: float, z: int):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [1, 256], schema.TensorType.INT8, 0
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [s], [z]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.LOGISTIC
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    sub = schema.SubGraphT()
    sub.tensors = [tensor(b"x", scale, zero_point), tensor(b"y", 1 / 256, -128)]
    sub.inputs, sub.outputs, sub.operators = [0], [1], [op]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [sub], [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize(("scale", "zero_point"), [(0.0086, 127), (0.05, 0), (0.2, -20), (0.004, -128)])
def test_int8_logistic_equals_tflm_on_every_input(cache, tmp_path, scale, zero_point):
    from heiti.micro import golden
    from heiti.micro.build import HostModel, host_library
    from heiti.micro.codegen import generate
    from heiti.micro.tflite_import import import_tflite

    path = tmp_path / "logistic.tflite"
    path.write_bytes(_logistic_model(scale, zero_point))
    graph = import_tflite(path, (256,))
    assert [op.kind for op in graph.ops] == ["logistic"]
    raw = np.arange(-128, 128, dtype=np.int8)[None]
    want = tflm_outputs(path, raw)[0].reshape(1, -1)
    assert len(np.unique(want)) > 20  # the curve, not a saturated constant
    assert np.array_equal(golden.predict(graph, raw), want)
    generate(graph, tmp_path / "c")
    assert np.array_equal(HostModel(host_library(tmp_path / "c"), 256, 256).predict(raw), want)


def _dilated_graph():
    """Dilated convolutions down each kernel path: phases (groups 1 and depthwise, dilation 2)
    and the general loop (dilation 3 with padding 1)."""
    from heiti.micro.floatgraph import FloatBuilder

    rng = np.random.default_rng(0)
    b = FloatBuilder((1, 8, 8), 1 / 16)

    def conv(cout: int, cin: int, pad: int, groups: int, dilation: int) -> None:
        attrs = {"stride": 1, "pad": pad, "groups": groups, "act": "relu", "dilation": dilation}
        b.emit("conv2d", [b.current], attrs, {"weight": rng.normal(0, 0.3, (cout, cin, 3, 3)),
                                              "bias": rng.normal(0, 0.1, cout)})

    conv(4, 1, 1, 1, 1)
    conv(6, 4, 2, 1, 2)  # phases, groups 1
    conv(6, 1, 2, 6, 2)  # phases, depthwise
    conv(5, 6, 1, 1, 3)  # the general loop: 8 + 2 - 6 = 4 outputs a side
    b.reshape((80,))
    b.dense(rng.normal(0, 0.3, (7, 80)), rng.normal(0, 0.1, 7))
    return b.finish()


@pytest.mark.parametrize("scheme", ["tflite", "pow2"])
def test_dilated_convolutions_equal_golden_on_host_and_board(cache, tmp_path, scheme):
    from heiti.core.artifact import Provenance
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.core.steps import StepContext
    from heiti.datasets.digits import Digits
    from heiti.micro import golden
    from heiti.micro.build import HostModel, host_library
    from heiti.micro.quantize import calibrate_for, to_integer
    from heiti.micro.steps import graph_artifact
    from heiti.optimizers.micro_c import MicroC
    from heiti.pipeline.inference import run_inference
    from heiti.runtimes.micro_host import MicroHost
    from heiti.targets.qemu import Qemu

    floats = _dilated_graph()
    x = Digits().split("test").x[:24]
    graph = to_integer(floats, calibrate_for(floats, x, scheme), scheme)
    assert graph.tensors[graph.ops[-3].output].shape == (5, 4, 4)
    raw = graph.quantize_input(x)
    want = golden.predict(graph, raw)
    assert len(np.unique(want)) > 10
    io = IOSpec(inputs=[TensorSpec(name="input", shape=[-1, 1, 8, 8])],
                outputs=[TensorSpec(name="logits", shape=[-1, 7])])
    source = Artifact(path=tmp_path / "model.pt", format="torch", io=io,
                      provenance=Provenance(producer="test"))
    npz = graph_artifact(graph, tmp_path / "graph.npz", source, "test", {}).save()
    ctx = StepContext(dataset=Digits(), build_dir=tmp_path, log=lambda m: None)
    artifact = MicroC({"check_samples": 0, "cortex_m4": False}).optimize(npz, tmp_path / "c", ctx)
    artifact.format = "c-int8"
    artifact.save()
    host = HostModel(host_library(tmp_path / "c"), raw[0].size, 7).predict(raw)  # portable kernels
    assert np.array_equal(host, want)
    if not ON_BOARD:
        pytest.skip("QEMU or arm-none-eabi-gcc missing (.ci/apt-packages): host == golden checked only")
    executor = Qemu({"board": "mps2-an386"}).open(MicroHost(), artifact)  # DSP kernels in the phases
    try:
        loop = run_inference(executor, {"input": raw}, warmup=0, show_progress=False)
    finally:
        executor.close()
    assert np.array_equal(loop.outputs["logits"], want)
