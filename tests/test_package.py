"""``heiti package``: the session's digits model as a heiti micro package, built in a clean
folder with CMake and with make (host gcc, and arm-none-eabi-gcc for the library), its
example run and compared with heiti's golden model; the Arduino and Zephyr layouts; an ONNX
model with its IO specification and Python runner, run by the venv's python; the same for the
other runtimes with a runner (LiteRT, TFLM, OpenVINO, ExecuTorch, IREE, TVM), the runner's outputs
equal to heiti's runtime component's on the package's sample."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import run_cli, scenario_dict, write_scenario
from heiti import registry
from heiti.core.artifact import Artifact
from heiti.deploy.folder import MARKER
from heiti.deploy.runtime import runner_for
from heiti.micro import golden
from heiti.micro.graph import Graph, raw_input
from heiti.scenario import load_scenario
from package_helpers import run_board_example

pytestmark = pytest.mark.skipif(not (shutil.which("cmake") and shutil.which("gcc") and shutil.which("make")),
                                reason="cmake, make and gcc are needed (.ci/apt-packages)")
ARM = shutil.which("arm-none-eabi-gcc")
CHAIN = [{"type": "micro-ptq", "parameters": {"calibration_samples": 100}},
         {"type": "micro-c", "parameters": {"check_samples": 0, "cortex_m4": bool(ARM)}}]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, trained_model_dir) -> Path:
    mp = pytest.MonkeyPatch()
    mp.setenv("HEITI_CACHE", str(tmp_path_factory.mktemp("package-cache")))
    folder = tmp_path_factory.mktemp("package")
    shutil.copytree(trained_model_dir / "model", folder / "model")
    yield write_scenario(folder, scenario_dict("digits-micro", optimizers=CHAIN,
                                               runtime={"type": "micro-host"}))
    mp.undo()


@pytest.fixture(scope="module")
def package(scenario, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out") / "digits-package"
    assert run_cli("package", scenario, "-o", out) == 0
    return out


def _run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


def _example_outputs(stdout: str) -> list[int]:
    line = next(line for line in stdout.splitlines() if line.startswith("outputs:"))
    return [int(v) for v in line.split()[1:]]


def test_cmake_build_runs_the_example_with_the_golden_models_outputs(package, scenario, tmp_path):
    folder = shutil.copytree(package, tmp_path / "clean")  # nothing of heiti's build folder around
    _run(["cmake", "-B", "build", "-S", "."], folder)
    _run(["cmake", "--build", "build"], folder)
    stdout = _run([str(folder / "build" / "heiti_model_example")], folder)
    assert "same as heiti's outputs" in stdout
    loaded = load_scenario(scenario)
    graph = Graph.load(loaded.build_dir / "01-micro-ptq.npz")
    first = loaded.dataset.split("test").x[:1]
    assert _example_outputs(stdout) == golden.predict(graph, raw_input(first, graph.input_scale))[0].tolist()
    figures = json.loads((folder / "heiti-package.json").read_text())
    assert figures["expected_outputs"] == _example_outputs(stdout)


def test_package_holds_the_artifacts_c_files_and_documents_the_api(package, scenario):
    artifact = load_scenario(scenario).build_dir / "02-micro-c"
    shipped = {p.name for p in (package / "heiti_model").rglob("*") if p.is_file()}
    assert shipped == {p.name for p in artifact.rglob("*") if p.suffix in (".c", ".h")}
    readme = (package / "README.md").read_text()
    assert "heiti_model_run(input, output)" in readme and "HEITI_MODEL_ARENA_SIZE" in readme
    assert "| preprocess |" in readme and "conv2d" in readme


def test_plain_make_builds_with_warnings_as_errors(package, tmp_path):
    folder = shutil.copytree(package, tmp_path / "clean")
    _run(["make", "CFLAGS=-O2 -Werror"], folder)
    assert "same as heiti's outputs" in _run(["./heiti_model_example"], folder)


def test_the_headers_compile_strictly_as_c99_and_cpp_and_link_from_cpp(package, tmp_path):
    folder = shutil.copytree(package, tmp_path / "clean")
    for header in ("model.h", "heiti_micro.h"):
        _run(["gcc", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-pedantic", "-std=c99",
              f"heiti_model/{header}"], folder)
    if not shutil.which("g++"):
        pytest.skip("g++ is not installed (.ci/apt-packages)")
    for header in ("model.h", "heiti_micro.h"):
        _run(["g++", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-x", "c++", f"heiti_model/{header}"],
             folder)
    _run(["make", "libheiti_model.a"], folder)
    (folder / "main.cpp").write_text(  # no extern "C" here: model.h declares its functions so
        '#include <cstdio>\n#include "model.h"\n'
        "int main() {\n"
        "    static uint8_t input[HEITI_MODEL_INPUT_SIZE];\n"
        "    static int8_t output[HEITI_MODEL_OUTPUT_SIZE];\n"
        '    std::printf("class %ld\\n", static_cast<long>(heiti_model_classify(input, output)));\n'
        "    return heiti_model_run(input, output);\n}\n")
    _run(["g++", "-Wall", "-Wextra", "-Werror", "-Iheiti_model", "main.cpp", "libheiti_model.a", "-o", "cpp"],
         folder)
    assert _run(["./cpp"], folder).startswith("class ")


@pytest.mark.skipif(not ARM, reason="arm-none-eabi-gcc is not installed (.ci/apt-packages)")
def test_cross_build_of_the_library_matches_the_flash_figure(package, tmp_path):
    folder = shutil.copytree(package, tmp_path / "clean")
    _run(["cmake", "-B", "build", "-DCMAKE_TOOLCHAIN_FILE=cmake/toolchain.cmake"], folder)
    _run(["cmake", "--build", "build"], folder)
    assert not (folder / "build" / "heiti_model_example").exists()  # no printf on a board
    sizes = _run(["arm-none-eabi-size", "-t", "build/libheiti_model.a"], folder).splitlines()[-1].split()
    flash = json.loads((folder / "heiti-package.json").read_text())["flash_bytes"]
    # the same sources and CPU; CMake's MinSizeRel flags differ slightly from micro-c's -Os
    assert abs(int(sizes[0]) + int(sizes[1]) - flash) <= 0.05 * flash
    assert f"| flash (code + constant weights, text + data) | {flash} |" in (folder / "README.md").read_text()


def test_a_build_folder_gives_a_package_with_a_synthetic_sample(scenario, tmp_path):
    build = load_scenario(scenario).build_dir
    assert run_cli("package", build, "-o", tmp_path / "pkg") == 0
    assert "pseudo-random" in (tmp_path / "pkg" / "example" / "main.c").read_text()
    _run(["make"], tmp_path / "pkg")
    assert "same as heiti's outputs" in _run(["./heiti_model_example"], tmp_path / "pkg")
    assert run_cli("package", build, "-o", tmp_path / "pkg") == 0  # its own package: replaced
    assert not (tmp_path / "pkg" / "heiti_model_example").exists()


def test_refusals_exit_2(scenario, tmp_path, capsys):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    assert run_cli("package", scenario, "-o", foreign) == 2
    assert "is not a heiti package" in capsys.readouterr().err
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert run_cli("package", tmp_path / "missing", "-o", tmp_path / "p") == 2
    assert run_cli("package", tmp_path, "-o", tmp_path / "p") == 2
    assert "holds no heiti micro C model" in capsys.readouterr().err
    torch = write_scenario(scenario.parent, scenario_dict("torch", build_dir="build-torch", optimizers=[],
                                                         runtime={"type": "torch"}), "torch.yml")
    assert run_cli("package", torch, "-o", tmp_path / "p") == 2
    assert "ends in a model of format torch" in capsys.readouterr().err
    onnx = write_scenario(scenario.parent, scenario_dict("onnx", build_dir="build-onnx"), "onnx.yml")
    assert run_cli("package", onnx, "-o", tmp_path / "p", "--layout", "arduino") == 2
    assert "apply to heiti micro packages" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


@pytest.mark.skipif(not (ARM and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc and qemu-system-arm are needed (.ci/apt-packages)")
def test_the_example_runs_on_the_emulated_board_as_the_readme_says(package, tmp_path):
    done = run_board_example(shutil.copytree(package, tmp_path / "clean"))
    assert done.returncode == 0 and "same as heiti's outputs" in done.stdout, done.stdout + done.stderr


@pytest.mark.skipif(not (ARM and shutil.which("qemu-system-arm")),
                    reason="arm-none-eabi-gcc and qemu-system-arm are needed (.ci/apt-packages)")
def test_heiti_benchmark_times_the_c_model_on_the_emulated_board(scenario, package, capsys):
    artifact = load_scenario(scenario).build_dir / "02-micro-c"  # made by the package fixture
    assert run_cli("benchmark", artifact, "--target", "qemu:board=mps2-an386", "--iterations", "5",
                   "--warmup", "1", "--json", "-") == 0
    figures = json.loads(capsys.readouterr().out)
    board = figures["target_statistics"]["board"]
    assert figures["target"] == "qemu" and board["name"] == "mps2-an386"
    assert board["inferences"] == 6 and board["instructions_per_inference"]["mean"] > 0
    estimate = board["estimated_ms_at_nominal_clock"]
    assert figures["target_latency_ms"]["mean"] == pytest.approx(estimate, rel=1e-3)
    assert run_cli("benchmark", artifact, "--target", "qemu:board=mps2-an386", "--profile") == 2


def _host_build(folder: Path, sources: list[str], include: str) -> str:
    """Compile C sources with the host gcc as strict C99 and run the program."""
    _run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{include}", *sources, "-o", "prog"], folder)
    return _run(["./prog"], folder)


def test_arduino_layout_is_a_library_whose_src_builds_as_plain_c(scenario, package, tmp_path):
    out = tmp_path / "arduino"
    assert run_cli("package", scenario, "-o", out, "--layout", "arduino") == 0
    properties = dict(line.split("=", 1) for line in (out / "library.properties").read_text().splitlines())
    assert properties["name"] == "digits-micro" and properties["includes"] == "model.h"
    assert {"version", "author", "sentence", "paragraph", "category", "architectures"} <= properties.keys()
    sketch = (out / "examples" / "heiti_model_example" / "heiti_model_example.ino").read_text()
    assert "#include <model.h>" in sketch and "void setup()" in sketch and "void loop()" in sketch
    assert not (out / "heiti_model").exists() and not (out / "CMakeLists.txt").exists()
    # No Arduino toolchain here: src/ is compiled as the plain C library an Arduino core
    # compiles it as (every .c under src/), with the host gcc and the cmake layout's example.
    sources = [str(p) for p in (out / "src").rglob("*.c")]
    stdout = _host_build(out, [*sources, str(package / "example" / "main.c")], "src")
    assert "same as heiti's outputs" in stdout
    # the sketch checks against the same expected outputs as the example
    assert re.sub(r"\s", "", sketch.split("expected[HEITI_MODEL_OUTPUT_SIZE] = {")[1].split("}")[0]) == \
        ",".join(map(str, json.loads((out / "heiti-package.json").read_text())["expected_outputs"]))


def test_zephyr_layout_is_a_module_whose_listed_sources_build(scenario, tmp_path):
    out = tmp_path / "zephyr"
    assert run_cli("package", scenario, "-o", out, "--layout", "zephyr") == 0
    module = yaml.safe_load((out / "zephyr" / "module.yml").read_text())
    assert module["build"]["cmake"] == "zephyr" and (out / module["build"]["kconfig"]).is_file()
    assert all((out / sample / "CMakeLists.txt").is_file() for sample in module["samples"])
    assert "config HEITI_MODEL\n" in (out / "zephyr" / "Kconfig").read_text()
    assert "CONFIG_HEITI_MODEL=y" in (out / "samples" / "heiti_model" / "prj.conf").read_text()
    cmake = (out / "zephyr" / "CMakeLists.txt").read_text()
    listed = re.findall(r"\$\{CMAKE_CURRENT_LIST_DIR\}/(\S+)", cmake)
    sources = [str((out / "zephyr" / p).resolve()) for p in listed if p.endswith(".c")]
    assert {Path(p).name for p in sources} == {p.name for p in (out / "heiti_model").rglob("*.c")}
    # No Zephyr SDK here: the sources the module's CMake lists, with the sample's main.c,
    # built by the host gcc and run.
    main = str(out / "samples" / "heiti_model" / "src" / "main.c")
    assert "same as heiti's outputs" in _host_build(out, [*sources, main], "heiti_model")


def test_an_onnx_model_package_runs_with_its_own_runner(scenario, tmp_path):
    import onnxruntime

    onnx = write_scenario(scenario.parent, scenario_dict("onnx", build_dir="build-onnx"), "onnx.yml")
    out = tmp_path / "onnx-package"
    assert run_cli("package", onnx, "-o", out) == 0
    assert {p.name for p in out.iterdir()} == {"model.onnx", "io.json", "sample.npz", "run.py", "README.md",
                                               "heiti-package.json"}
    io = json.loads((out / "io.json").read_text())
    # the venv's python, in the package folder only: the runner imports nothing of heiti
    done = subprocess.run([sys.executable, str(out / "run.py")], cwd=tmp_path, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    loaded = load_scenario(onnx)
    first = loaded.dataset.split("test").x[:1].astype(np.float32)
    model = next(loaded.build_dir.glob("*.onnx"))
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    reference = session.run(None, {io["inputs"][0]["name"]: first})[0]
    assert np.array_equal(np.asarray(printed[io["outputs"][0]["name"]], dtype=np.float32), reference)
    assert done.stderr.startswith("class: ")


ONNX = {"type": "onnx-export", "parameters": {"check_samples": 0}}
CASES = {  # runtime -> (the chain that makes its model, the python modules the case needs)
    "litert": ([{"type": "litert-convert", "parameters": {"quantization": "int8",
                                                            "calibration_samples": 50}}],
               ("litert_torch", "ai_edge_litert")),
    "tflm": ([{"type": "litert-convert"}], ("litert_torch", "tflite_micro")),
    "openvino": ([ONNX, {"type": "openvino-convert"}], ("openvino",)),
    "executorch": ([{"type": "executorch-export"}], ("executorch",)),
    "iree": ([ONNX, {"type": "iree-compile"}], ("iree.compiler", "iree.runtime")),
    "tvm": ([ONNX, {"type": "tvm-compile"}], ("tvm", "onnx")),
}


@pytest.mark.parametrize("runtime", sorted(CASES))
def test_the_packages_runner_gives_heitis_outputs(runtime, scenario, tmp_path):
    chain, modules = CASES[runtime]
    for module in modules:
        pytest.importorskip(module)
    converted = write_scenario(scenario.parent, scenario_dict(runtime, build_dir=f"build-{runtime}",
                                                              optimizers=chain, runtime={"type": runtime}),
                               f"{runtime}.yml")
    out = tmp_path / "package"
    assert run_cli("package", converted, "-o", out) == 0
    marker = json.loads((out / MARKER).read_text())
    assert marker["runtime"] == runtime
    runner = runner_for(marker["format"], runtime)
    assert f"pip install numpy {runner.requirement}" in (out / "README.md").read_text()

    # a copy of the package alone, run by the venv's python from there
    alone = tmp_path / "alone"
    shutil.copytree(out, alone)
    done = subprocess.run([sys.executable, "run.py"], cwd=alone, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    printed = json.loads(done.stdout)

    io = json.loads((alone / "io.json").read_text())
    sample = np.load(alone / "sample.npz")
    component = registry.get("runtime", runtime)()
    component.load(Artifact.load(Path(marker["artifact"])))
    try:
        inputs = {spec["name"]: sample[spec["name"]] for spec in io["inputs"]}
        expected = component.outputs(component.infer(component.prepare(inputs)))
    finally:
        component.close()
    for spec in io["outputs"]:
        got = np.asarray(printed[spec["name"]], dtype=spec["dtype"])
        assert got.shape == expected[spec["name"]].shape
        assert np.array_equal(got, expected[spec["name"]]), (runtime, got, expected[spec["name"]])


def test_a_tflite_model_gets_the_scenarios_runtime_or_litert():
    assert runner_for("tflite", "tflm").runtime == "tflm"
    assert runner_for("tflite-int8", "micro-host").runtime == "litert"
    assert runner_for("openvino-int8", None).title == "OpenVINO"
