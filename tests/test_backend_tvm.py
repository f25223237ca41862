"""Apache TVM: tvm-compile (ONNX -> native library) and the tvm runtime (Relax VM)."""

import json
import os
import tarfile

import pytest

pytest.importorskip("tvm", reason='Apache TVM is not installed: pip install "heiti[tvm]"')

from backend_helpers import agreement, digits_fixture, planned_example, predict, step  # noqa: E402, F401
from conftest import run_cli, scenario_dict, write_scenario  # noqa: E402
from heiti.errors import InputError  # noqa: E402
from heiti.frameworks import native  # noqa: E402
from heiti.optimizers.tvm_compile import TvmCompile  # noqa: E402
from heiti.runtimes.tvm_runtime import TvmRuntime  # noqa: E402


@pytest.fixture(scope="module")
def compiled(digits):
    return step(TvmCompile(), digits.onnx, digits.folder / "tvm.so", digits.ctx)


def test_compiled_library_agrees_with_pytorch(digits, compiled):
    assert compiled.format == "tvm" and compiled.io.inputs[0].shape == [1, 1, 8, 8]
    details = compiled.provenance.details
    assert details["native_code"] is True and details["cross_compiled"] is False
    os.environ.pop("TVM_NUM_THREADS", None)
    assert agreement(predict(TvmRuntime({"threads": 2}), compiled, digits.x), digits.reference) >= 0.99
    assert "TVM_NUM_THREADS" not in os.environ  # the runtime's process-wide setting is undone


def test_profile_times_each_compiled_kernel(compiled, capsys):
    assert run_cli("benchmark", compiled.path, "--runtime", "tvm", "--iterations", "20",
                   "--profile", "--profile-runs", "5", "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)
    layers = figures["profile"]
    # the digits CNN: two convolutions (with their bias and ReLU fused by TVM) and a dense layer
    names = [layer["name"] for layer in layers]
    assert sum("conv2d" in name for name in names) == 2 and any("matmul" in n for n in names)
    assert not any(name.startswith("vm.builtin") for name in names)
    assert all(layer["mean_ms"] > 0 for layer in layers) and figures["profile_runs"] == 5
    # each kernel's time is inside a call: their sum is of the order of a whole inference
    # (the instrument hook adds a few microseconds to each kernel, the VM's own work is left out)
    total, whole = sum(layer["mean_ms"] for layer in layers), figures["latency_ms"]["p50"]
    assert whole / 20 < total < whole * 20


@pytest.mark.parametrize("triple", ["aarch64-linux-gnu", "riscv64-unknown-linux-gnu"])
def test_cross_compiled_archive_is_refused_here_with_a_reason(digits, triple):
    optimizer = TvmCompile({"target": f"llvm -mtriple={triple}"})
    assert optimizer.file_suffix == ".tar" and optimizer.output_format_for("onnx") == "tvm-cross"
    archive = step(optimizer, digits.onnx, digits.folder / f"{triple}.tar", digits.ctx)
    assert archive.format == "tvm-cross" and tarfile.is_tarfile(archive.path)
    assert archive.provenance.details["target_triple"] == triple
    with pytest.raises(InputError, match=f"cross-compiled for {triple}"):
        TvmRuntime().load(archive)
    # on a device of that architecture the same archive is accepted (TVM links it on load)
    native_there = archive.model_copy(deep=True)
    native_there.provenance.details["target_triple"] = f"{native.host_arch()}-linux-gnu"
    native.refuse_cross(native_there, "tvm")


@pytest.mark.parametrize("target, message", [
    ("cuda", "target kind 'cuda' is not supported"),
    ("llvm -O3", "not of the form -name=value"),
    ("llvm -mfoo=1", "'-mfoo' is not supported"),
    ({"target": "llvm -mtriple=aarch64-linux-gnu", "tune_trials": 8}, "cannot tune for another"),
])
def test_bad_targets_are_reported_with_their_place_in_the_scenario(workdir, capsys, target, message):
    parameters = target if isinstance(target, dict) else {"target": target}
    chain = [{"type": "onnx-export"}, {"type": "tvm-compile", "parameters": parameters}]
    scenario = write_scenario(workdir, scenario_dict(optimizers=chain, runtime={"type": "tvm"}))
    assert run_cli("optimize", scenario) == 2
    err = capsys.readouterr().err
    assert "optimizers[1]" in err and message in err and "Traceback" not in err, err


def test_unknown_cpu_is_an_input_error(digits):
    with pytest.raises(InputError, match="does not know the CPU '-mcpu=nonsense'"):
        TvmCompile({"target": "llvm -mcpu=nonsense"}).optimize(
            digits.onnx, digits.folder / "bad.so", digits.ctx)


def test_info_shows_formats_and_parameters(capsys):
    assert run_cli("info", "tvm-compile") == 0
    out = capsys.readouterr().out
    assert "onnx -> tvm" in out and "tune_trials" in out and "-mtriple=aarch64" in out
    assert run_cli("info", "tvm") == 0
    assert "executes native code" in capsys.readouterr().out.replace("\n", " ")


def test_listing_components_imports_no_compiler():
    import subprocess
    import sys

    code = ("import sys, heiti.cli\nheiti.cli.main(['list'])\nheiti.cli.main(['info', 'tvm-compile'])\n"
            "print('HEAVY', [m for m in ('tvm', 'openvino', 'nncf', 'iree.compiler', 'iree.runtime')\n"
            "                if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout[-500:]


def test_example_scenario_fits_together():
    assert planned_example("digits-tvm.yml")[-2:] == [("tvm-compile", "tvm"), "tvm"]


def test_a_remote_server_runs_tvm_libraries_only_when_native_code_is_allowed(tmp_path, trained_model_dir,
                                                                             capsys):
    """A compiled library executes native code on load: `heiti server` refuses it by default."""
    import json
    import shutil

    from remote_helpers import server_process

    shutil.copytree(trained_model_dir / "model", tmp_path / "model")
    measurements = tmp_path / "build" / "measurements.json"

    def evaluate(name: str, target: dict) -> int:
        data = scenario_dict(name, target=target, report={"enabled": False},
                             optimizers=[{"type": "onnx-export"}, {"type": "tvm-compile"}],
                             runtime={"type": "tvm", "parameters": {"threads": 1}},
                             test={"warmup": 2, "samples": 40})
        return run_cli("test", write_scenario(tmp_path, data, f"{name}.yml"))

    assert evaluate("local", {"kind": "local"}) == 0
    local = json.loads(measurements.read_text())
    measurements.unlink()
    assert run_cli("server", "--port", "0", "--runtime", "tvm") == 2  # refused before listening
    assert "--allow-native-code" in capsys.readouterr().err
    log = tmp_path / "server.log"
    with server_process(log, "--port", "0", "--runtime", "tvm", "--allow-native-code") as (_, port):
        assert evaluate("remote", {"kind": "remote", "protocol": "tcp", "port": int(port)}) == 0
    remote = json.loads(measurements.read_text())
    assert remote["quality"]["predictions"] == local["quality"]["predictions"]
    assert remote["performance"]["target_latency_ms"]["p50"] > 0
