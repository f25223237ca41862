"""The chain is checked before anything runs; steps are cached by input hash and parameters."""

import subprocess
import sys

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.errors import InputError
from heiti.pipeline.chain import plan_chain
from heiti.scenario import load_scenario


def test_a_gap_without_converter_is_explained_with_the_fitting_steps(tmp_path):
    data = scenario_dict(optimizers=[{"type": "onnx-export"}, {"type": "onnx-export"}])
    with pytest.raises(InputError) as info:
        plan_chain(load_scenario(write_scenario(tmp_path, data)))
    message = info.value.message
    assert ("optimizers[1] 'onnx-export' takes 'torch', but optimizers[0] 'onnx-export' produces "
            "'onnx'") in message
    assert "no converter from 'onnx' to 'torch' (available conversions: " in message
    assert "torch -> onnx (onnx-export)" in message
    assert "optimizers that take 'onnx': " in message and "ort-quantize" in message


def test_a_runtime_that_cannot_run_the_final_format_names_the_fitting_ones(tmp_path):
    data = scenario_dict(runtime={"type": "torch"})
    with pytest.raises(InputError, match="runtime 'torch' runs 'torch', but optimizers\\[0\\] "
                                         "'onnx-export' produces 'onnx'; runtimes that run 'onnx': "
                                         "onnxruntime.*; no converter from 'onnx' to 'torch'"):
        plan_chain(load_scenario(write_scenario(tmp_path, data)))


def test_chain_errors_come_before_training(tmp_path, capsys):
    data = scenario_dict(optimizers=[{"type": "onnx-export"}, {"type": "onnx-export"}])
    assert run_cli("train", write_scenario(tmp_path, data)) == 2
    assert "does not fit together" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_steps_are_cached_and_rerun_when_parameters_change(workdir):
    path = write_scenario(workdir, scenario_dict(optimizers=[{"type": "onnx-export"},
                                                             {"type": "onnx-graph"}]))
    assert run_cli("optimize", path) == 0
    outputs = [workdir / "build" / "01-onnx-export.onnx", workdir / "build" / "02-onnx-graph.onnx"]
    stamps = [p.stat().st_mtime_ns for p in outputs]
    assert run_cli("optimize", path) == 0
    assert [p.stat().st_mtime_ns for p in outputs] == stamps  # up to date: nothing rewritten
    write_scenario(workdir, scenario_dict(optimizers=[{"type": "onnx-export"},
                                                      {"type": "onnx-graph",
                                                       "parameters": {"level": "extended"}}]))
    assert run_cli("optimize", path) == 0
    assert outputs[0].stat().st_mtime_ns == stamps[0]
    assert outputs[1].stat().st_mtime_ns != stamps[1]


MISSING_EXTRA = """
import sys
sys.modules["onnxruntime"] = None  # as if the package were not installed
import importlib.util
real = importlib.util.find_spec
importlib.util.find_spec = lambda name, *a: None if name == "onnxruntime" else real(name, *a)
from heiti.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_missing_extra_is_named_with_the_install_command(tmp_path):
    # Real absence cannot be arranged inside CI's environment (it installs every extra), so a
    # child process hides onnxruntime from the import system before heiti starts.
    path = write_scenario(tmp_path, scenario_dict())
    result = subprocess.run([sys.executable, "-c", MISSING_EXTRA, "test", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "needs the Python module 'onnxruntime'" in result.stderr
    assert 'pip install "heiti[onnx]"' in result.stderr
    listing = subprocess.run([sys.executable, "-c", MISSING_EXTRA, "list", "--kind", "runtime"],
                             capture_output=True, text=True, timeout=60)
    assert 'onnxruntime' in listing.stdout and '[missing: pip install "heiti[onnx]"]' in listing.stdout


def test_formats_parse_into_family_precision_and_cross():
    from heiti.core.formats import Format

    assert Format.parse("onnx-int8") == Format("onnx", "int8") and Format.parse("onnx-int8").quantized
    assert Format.parse("tvm-cross") == Format("tvm", "fp32", cross=True)
    assert not Format.parse("onnx-fp16").quantized
    for text in ("onnx", "onnx-int8", "onnx-fp16", "tvm-cross", "c-int8", "pte-int8"):
        assert str(Format.parse(text)) == text
    assert str(Format.parse("iree").crossed()) == "iree-cross"
