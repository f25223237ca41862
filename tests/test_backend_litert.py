"""LiteRT: PyTorch -> .tflite (float and int8) with litert-torch, run by the LiteRT interpreter."""

import numpy as np
import pytest

from conftest import agreement, measure

pytest.importorskip("ai_edge_litert", reason='LiteRT runtime not installed: pip install "heiti[litert]"')


@pytest.fixture(scope="module")
def converter():
    pytest.importorskip("litert_torch", reason='litert-torch not installed: pip install '
                                               '"heiti[litert-convert]"')


def test_fp32_agrees_with_pytorch_and_int8_stays_close(workdir, torch_reference, converter):
    fp32 = measure(workdir, "lt-fp32", [{"type": "litert-convert"}], {"type": "litert"})
    int8 = measure(workdir, "lt-int8", [{"type": "litert-convert",
                                         "parameters": {"quantization": "int8"}}], {"type": "litert"})
    assert agreement(fp32, torch_reference) >= 0.99
    assert fp32["quality"]["metrics"]["accuracy"] - int8["quality"]["metrics"]["accuracy"] <= 0.015
    assert int8["model"]["format"] == "tflite-int8"
    first_input = int8["model"]["io"]["inputs"][0]
    assert first_input["dtype"] == "int8" and first_input["scale"] > 0
    assert int8["model"]["size_bytes"] < fp32["model"]["size_bytes"]
    # the converted file as a user's own .tflite model: same predictions
    existing = {"type": "tflite-file", "path": int8["model"]["path"]}
    again = measure(workdir, "lt-file", [], {"type": "litert"}, model=existing)
    assert again["quality"]["predictions"] == int8["quality"]["predictions"]
    assert again["model"]["format"] == "tflite-int8"


def test_a_file_that_is_not_tflite_is_bad_input(workdir, capsys):
    from conftest import run_cli, scenario_dict, write_scenario

    (workdir / "bad.tflite").write_bytes(b"not a flatbuffer")
    data = scenario_dict(model={"type": "tflite-file", "path": "bad.tflite"}, optimizers=[],
                         runtime={"type": "litert"})
    assert run_cli("test", write_scenario(workdir, data)) == 2
    assert "is not a loadable .tflite model" in capsys.readouterr().err


def test_profile_is_refused_with_the_reason_and_the_runtimes_that_can(tmp_path, capsys):
    pytest.importorskip("tflite_micro", reason="the test model is written with tflite-micro's schema")
    from conftest import run_cli
    from hostile_models import int8_tflite

    model = tmp_path / "tiny.tflite"
    model.write_bytes(int8_tflite())
    assert run_cli("benchmark", model, "--runtime", "litert", "--profile") == 2
    err = capsys.readouterr().err
    assert "runtime 'litert' has no per-layer profiler" in err and "exposes no op profiler" in err
    assert "onnxruntime, openvino, tvm" in err  # the hint: runtimes that profile
    assert run_cli("benchmark", model, "--runtime", "litert", "--iterations", "3") == 0


def test_quantized_io_round_trips_with_scale_and_zero_point():
    from heiti.core.iospec import TensorSpec

    spec = TensorSpec(name="x", shape=[-1, 4], dtype="int8", scale=0.5, zero_point=3)
    q = spec.quantize(np.array([-100.0, 0.0, 1.0, 100.0]))
    assert q.dtype == np.int8 and q.tolist() == [-128, 3, 5, 127]
    assert spec.dequantize(q).tolist() == [-65.5, 0.0, 1.0, 62.0]
    floats = TensorSpec(name="x", shape=[-1, 2])
    assert floats.quantize(np.ones(2, np.float32)).dtype == np.float32
