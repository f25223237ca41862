"""A model with several inputs on heiti micro: a small int8 .tflite made with litert-torch
(two inputs on their own scales and zero points, each through a dense layer, added, a dense
layer after) imported with micro-import-tflite gives TFLM's outputs bit for bit in the golden
model, the host C build (the inputs one after the other in its input buffer) and the firmware
on the emulated mps2-an386 (DATA with one tensor per input); the same model as a two-input
scenario through the CLI and `heiti package`. Untrained weights: exactness does not need
training."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from heiti.core.artifact import Artifact

torch = pytest.importorskip("torch")
pytest.importorskip("tflite_micro", reason='tflite-micro not installed: pip install "heiti[tflm]"')

SHAPES = {"features": (16,), "context": (8,)}
SAMPLES = 12


def _two_inputs(path: Path) -> Path:
    """The int8 .tflite of a two-input network: litert-torch with per-channel PT2E quantization,
    calibrated on different ranges so that the inputs get different grids."""
    import litert_torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torch import nn
    from torchao.quantization.pt2e import move_exported_model_to_eval
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features, self.context, self.head = nn.Linear(16, 12), nn.Linear(8, 12), nn.Linear(12, 10)

        def forward(self, x, y):
            return self.head(torch.relu(self.features(x) + self.context(y)))

    torch.manual_seed(0)
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False))
    example = (torch.zeros(1, 16), torch.zeros(1, 8))
    prepared = prepare_pt2e(torch.export.export(Net().eval(), example).module(), quantizer)
    with torch.no_grad():
        for x, y in zip(*_samples(16, seed=0), strict=True):
            prepared(torch.from_numpy(x[None]), torch.from_numpy(y[None]))
    quantized = move_exported_model_to_eval(convert_pt2e(prepared, fold_quantize=False))
    config = QuantConfig(pt2e_quantizer=quantizer)
    litert_torch.convert(quantized, example, quant_config=config).export(str(path))
    return path


def _samples(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (count, 16)).astype(np.float32),
            rng.uniform(-3, 0.5, (count, 8)).astype(np.float32))


def _tflm(path: Path, raw: list[np.ndarray]) -> np.ndarray:
    """TFLM's int8 outputs, one sample per invocation, every input set."""
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    found = []
    for sample in zip(*raw, strict=True):
        for k, values in enumerate(sample):
            interpreter.set_input(values[None], k)
        interpreter.invoke()
        found.append(interpreter.get_output(0).reshape(-1).copy())
    return np.stack(found)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("litert_torch", reason='pip install "heiti[litert-convert]" for litert-torch')
    return _two_inputs(tmp_path_factory.mktemp("inputs") / "two-inputs.tflite")


def test_two_inputs_equal_tflm_on_golden_host_and_board(model, tmp_path, monkeypatch):
    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.core.steps import StepContext
    from heiti.micro import golden
    from heiti.micro.graph import input_buffer
    from heiti.micro.steps import graph_artifact
    from heiti.micro.tflite_import import import_tflite
    from heiti.optimizers.micro_c import MicroC
    from heiti.runtimes.micro_golden import MicroGolden
    from heiti.runtimes.micro_host import MicroHost

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    graph = import_tflite(model, list(SHAPES.values()))
    assert graph.inputs == ["input", "input1"]
    grids = [(graph.tensors[name].scale, graph.tensors[name].zero_point) for name in graph.inputs]
    assert grids[0] != grids[1] and grids[1][1] != 0  # each input on its own grid
    raw = [graph.quantize_input(x, name)
           for x, name in zip(_samples(SAMPLES, seed=1), graph.inputs, strict=True)]
    assert all(r.dtype == np.int8 for r in raw) and raw[1].min() < 0 < raw[1].max()
    want = _tflm(model, raw)
    assert len(np.unique(want)) > 10
    assert np.array_equal(golden.predict(graph, raw), want)

    # the artifacts as micro-import-tflite and micro-c make them: inputs bound by the IO names
    io = IOSpec(inputs=[TensorSpec(name=name, shape=[-1, *shape]) for name, shape in SHAPES.items()],
                outputs=[TensorSpec(name="scores", shape=[-1, 10])])
    source = Artifact(path=model, format="tflite-int8", io=io, provenance=Provenance(producer="test"))
    npz = graph_artifact(graph, tmp_path / "graph.npz", source, "test", {}).save()
    assert [spec.zero_point for spec in npz.io.inputs] == [g[1] for g in grids]
    named = dict(zip(SHAPES, raw, strict=True))
    runtime = MicroGolden()
    runtime.load(npz)
    assert np.array_equal(runtime.outputs(runtime.infer(runtime.prepare(named)))["scores"], want)
    ctx = StepContext(dataset=None, build_dir=tmp_path, log=lambda m: None)
    artifact = MicroC({"check_samples": 0, "cortex_m4": False}).optimize(npz, tmp_path / "c", ctx)
    artifact.format = "c-int8"
    artifact.save()
    assert artifact.provenance.details["input_size"] == 16 + 8 == input_buffer(raw).shape[1]
    host = MicroHost()
    host.load(artifact)
    reordered = {name: named[name] for name in reversed(SHAPES)}  # bound by name, not by order
    assert np.array_equal(host.outputs(host.infer(host.prepare(reordered)))["scores"], want)
    if not all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc")):
        pytest.skip("QEMU or arm-none-eabi-gcc missing (.ci/apt-packages): golden and host == TFLM checked")
    from heiti.pipeline.inference import run_inference
    from heiti.targets.qemu import Qemu

    executor = Qemu({"board": "mps2-an386"}).open(MicroHost(), artifact)
    try:
        loop = run_inference(executor, named, warmup=0, show_progress=False)
    finally:
        executor.close()
    assert np.array_equal(loop.outputs["scores"], want)
    assert executor.target_statistics["board"]["inferences"] == SAMPLES


def test_an_input_count_or_shape_the_model_lacks_is_refused_by_name(model):
    from heiti.errors import InputError
    from heiti.micro.tflite_import import import_tflite

    with pytest.raises(InputError, match="has 2 inputs, the dataset 1"):
        import_tflite(model, (16,))
    with pytest.raises(InputError, match=r"model's input 'input1' is \[8\]"):
        import_tflite(model, [(16,), (9,)])


def test_the_firmware_takes_only_one_tensor_per_input_in_order(model, tmp_path, monkeypatch):
    """DATA on the wire (protocol 2): the first input alone, or the inputs swapped, is refused
    with BAD_INPUT naming both inputs; the session goes on and the right DATA gives TFLM's output."""
    if not all(shutil.which(p) for p in ("qemu-system-arm", "arm-none-eabi-gcc")):
        pytest.skip("QEMU or arm-none-eabi-gcc missing (.ci/apt-packages)")
    from heiti import boards
    from heiti.boards.build import build_firmware
    from heiti.boards.qemu import Emulation
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.micro.codegen import generate
    from heiti.micro.steps import integer_io
    from heiti.micro.tflite_import import import_tflite
    from heiti.protocols import messages as m
    from heiti.protocols.channel import Channel
    from heiti.protocols.framing import VERSION
    from heiti.protocols.messages import MsgType
    from heiti.protocols.transports import SocketTransport

    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    graph = import_tflite(model, list(SHAPES.values()))
    generate(graph, tmp_path / "c")
    io = integer_io(IOSpec(inputs=[TensorSpec(name=n, shape=[-1, *s]) for n, s in SHAPES.items()],
                           outputs=[TensorSpec(name="scores", shape=[-1, 10])]), graph)
    board = boards.builtin()["mps2-an386"]
    firmware = build_firmware(board, tmp_path / "c", io, "0" * 64, graph.input_size, 10, profile=False)
    raw = [graph.quantize_input(x, name) for x, name in zip(_samples(1, seed=2), graph.inputs, strict=True)]
    emulation = Emulation(board, firmware.elf)
    channel = Channel(SocketTransport(emulation.connect(10), "qemu", 10))

    def ask(msg_type: int, payload: bytes = b"") -> tuple[int, bytes]:
        channel.send(msg_type, payload)
        frame = channel.recv()
        return frame.type, frame.payload

    try:
        assert ask(MsgType.HELLO, m.pack_json({"versions": [VERSION], "client": "test"}))[0] == MsgType.HELLO
        for wrong in ([raw[0]], [raw[1], raw[0]]):
            kind, payload = ask(MsgType.DATA, m.pack_tensors(wrong))
            code, text = m.unpack_error(payload)[:2]
            assert kind == MsgType.ERROR and code == m.ErrorCode.BAD_INPUT
            assert "features: int8[1, 16], context: int8[1, 8]" in text
        assert ask(MsgType.DATA, m.pack_tensors(raw))[0] == MsgType.OK
        assert ask(MsgType.PROCESS)[0] == MsgType.PROCESS_STARTED
        assert channel.recv().type == MsgType.PROCESS_DONE
        kind, payload = ask(MsgType.OUTPUT)
        assert kind == MsgType.OUTPUT
        assert np.array_equal(m.unpack_tensors(payload)[0].reshape(1, -1), _tflm(model, raw))
    finally:
        channel.close()
        emulation.stop()


def test_micro_import_tflite_binds_the_datasets_inputs_by_name(model, tmp_path):
    """The step on an npz-arrays dataset with two inputs (stored in the other order than the
    model's): the graph's inputs take the dataset's shapes by the IO specification's names, and
    its IO specification gives each input its own dtype, scale and zero point."""
    from heiti.core.artifact import Artifact, Provenance
    from heiti.core.iospec import IOSpec, TensorSpec
    from heiti.core.steps import StepContext
    from heiti.datasets.npz_arrays import NpzArrays
    from heiti.errors import InputError
    from heiti.micro.graph import Graph
    from heiti.optimizers.micro_import_tflite import MicroImportTflite

    x, y = _samples(6, seed=3)
    np.savez(tmp_path / "data.npz", context=y, features=x, labels=np.arange(6) % 2)
    io = IOSpec(inputs=[TensorSpec(name=n, shape=[-1, *s]) for n, s in SHAPES.items()],
                outputs=[TensorSpec(name="scores", shape=[-1, 10])])
    source = Artifact(path=model, format="tflite-int8", io=io, provenance=Provenance(producer="test"))
    ctx = StepContext(dataset=NpzArrays({"path": tmp_path / "data.npz"}), build_dir=tmp_path,
                      log=lambda m: None)
    artifact = MicroImportTflite().optimize(source, tmp_path / "graph.npz", ctx)
    graph = Graph.load(artifact.path)
    assert [graph.tensors[name].shape for name in graph.inputs] == [(16,), (8,)]
    assert [(s.name, s.dtype, s.scale, s.zero_point) for s in artifact.io.inputs] == [
        (name, "int8", graph.tensors[t].scale, graph.tensors[t].zero_point)
        for name, t in zip(SHAPES, graph.inputs, strict=True)]
    renamed = source.model_copy(deep=True)
    renamed.io.inputs[1].name = "history"
    with pytest.raises(InputError, match="no input 'history'"):
        MicroImportTflite().optimize(renamed, tmp_path / "other.npz", ctx)


def test_a_two_input_scenario_runs_and_packages_through_the_cli(model, tmp_path, monkeypatch):
    """The user's path: the .tflite as a tflite-file model, an npz-arrays dataset with one array
    per model input (named as the model's inputs), micro-import-tflite and micro-c (its host ==
    golden check on both inputs) run by micro-host; ``heiti package`` then writes the device's
    input buffer (both inputs, one after the other) as the example's sample, and the example
    built with CMake gives heiti's outputs."""
    import subprocess

    from conftest import run_cli, write_scenario
    from heiti.frameworks.litert_tools import tensor_specs

    if not (shutil.which("cmake") and shutil.which("gcc")):
        pytest.skip("cmake and gcc are needed (.ci/apt-packages)")
    monkeypatch.setenv("HEITI_CACHE", str(tmp_path / "cache"))
    names = [spec.name for spec in tensor_specs(model)[0]]
    x, y = _samples(40, seed=4)
    np.savez(tmp_path / "data.npz", **{names[1]: y, names[0]: x}, labels=np.arange(40) % 10)
    data = {"name": "two-inputs", "build_dir": "build", "seed": 0,
            "dataset": {"type": "npz-arrays", "parameters": {"path": str(tmp_path / "data.npz")}},
            "model": {"type": "tflite-file", "path": str(model)},
            "optimizers": [{"type": "micro-import-tflite"},
                           {"type": "micro-c", "parameters": {"check_samples": 4, "cortex_m4": False}}],
            "runtime": {"type": "micro-host"}, "test": {"warmup": 0, "samples": 6},
            "report": {"enabled": False}}
    scenario = write_scenario(tmp_path / "run", data)
    assert run_cli("run", scenario) == 0
    artifact = Artifact.load(tmp_path / "run" / "build" / "02-micro-c")
    assert artifact.provenance.details["host_equals_golden_samples"] > 0  # the val split's (two)
    assert [spec.name for spec in artifact.io.inputs] == names
    out = tmp_path / "package"
    assert run_cli("package", scenario, "-o", out) == 0
    for command in (["cmake", "-B", "build", "-S", "."], ["cmake", "--build", "build"],
                    [str(out / "build" / "heiti_model_example")]):
        done = subprocess.run(command, cwd=out, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    assert "same as heiti's outputs" in done.stdout
