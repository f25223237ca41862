"""OpenVINO: openvino-convert (ONNX -> IR), openvino-quantize (NNCF int8) and the runtime."""

import numpy as np
import pytest

pytest.importorskip("openvino", reason='OpenVINO is not installed: pip install "heiti[openvino]"')
pytest.importorskip("nncf", reason='NNCF is not installed: pip install "heiti[openvino]"')

from backend_helpers import agreement, digits_fixture, planned_example, predict, step  # noqa: E402, F401
from conftest import run_cli, scenario_dict, write_scenario  # noqa: E402
from heiti.errors import InputError  # noqa: E402
from heiti.optimizers.openvino_convert import OpenVinoConvert  # noqa: E402
from heiti.optimizers.openvino_quantize import OpenVinoQuantize  # noqa: E402
from heiti.runtimes.openvino_runtime import OpenVinoRuntime  # noqa: E402


@pytest.fixture(scope="module")
def ir(digits):
    return step(OpenVinoConvert(), digits.onnx, digits.folder / "fp32.openvino", digits.ctx)


def test_ir_folder_agrees_with_pytorch_in_explicit_f32(digits, ir):
    assert ir.path.is_dir() and {p.name for p in ir.path.iterdir()} == {"model.xml", "model.bin"}
    runtime = OpenVinoRuntime({"threads": 1})
    assert agreement(predict(runtime, ir, digits.x), digits.reference) >= 0.99
    assert runtime.describe()["parameters"]["inference_precision"] == "f32"


def test_int8_stays_within_one_and_a_half_points_of_fp32(digits, ir):
    int8 = step(OpenVinoQuantize({"calibration_samples": 200}), ir, digits.folder / "int8.openvino",
                digits.ctx)
    assert int8.format == "openvino-int8" and int8.provenance.details["calibration_samples"] == 200
    fp32_accuracy = np.mean(predict(OpenVinoRuntime(), ir, digits.x) == digits.y)
    int8_accuracy = np.mean(predict(OpenVinoRuntime(), int8, digits.x) == digits.y)
    assert int8_accuracy >= fp32_accuracy - 0.015, (int8_accuracy, fp32_accuracy)
    assert "FakeQuantize" in (int8.path / "model.xml").read_text()


def test_onnx_runs_directly_and_a_missing_device_is_named(digits):
    assert agreement(predict(OpenVinoRuntime(), digits.onnx, digits.x[:50]), digits.reference[:50]) == 1
    with pytest.raises(InputError, match="device 'MYRIAD' is not available here"):
        OpenVinoRuntime({"device": "MYRIAD"}).load(digits.onnx)


def test_bad_precision_is_rejected_with_the_choices(capsys):
    with pytest.raises(ValueError, match="'f32', 'f16' or 'bf16'"):
        OpenVinoRuntime({"inference_precision": "int4"})


def test_info_shows_formats_and_parameters(capsys):
    assert run_cli("info", "openvino") == 0
    out = capsys.readouterr().out
    assert "inference_precision" in out and "runs openvino|openvino-int8|onnx" in out
    assert run_cli("info", "openvino-quantize") == 0
    assert "calibration_samples" in capsys.readouterr().out


def test_scenario_records_the_inference_precision_in_the_measurements(workdir):
    import json

    chain = [{"type": "onnx-export"}, {"type": "openvino-convert"}]
    scenario = write_scenario(workdir, scenario_dict(optimizers=chain, runtime={"type": "openvino"}))
    assert run_cli("test", scenario) == 0
    measured = json.loads((workdir / "build" / "measurements.json").read_text())
    assert measured["runtime"]["parameters"]["inference_precision"] == "f32"
    assert measured["model"]["format"] == "openvino" and measured["quality"]["metrics"]["accuracy"] > 0.85


def test_example_scenario_fits_together():
    assert planned_example("digits-openvino-int8.yml")[-2:] == [
        ("openvino-quantize", "openvino-int8"), "openvino"]
