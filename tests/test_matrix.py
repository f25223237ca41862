"""heiti matrix: feasible chains per runtime, each run and evaluated; failures are cells."""

import json

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.core.cpu import int8_instructions
from heiti.errors import InputError
from heiti.pipeline import matrix
from heiti.scenario import load_scenario

pytest.importorskip("onnxruntime")


def installed(name):
    from heiti import registry

    return not registry.get("runtime", name).missing_modules()


def test_planned_chains_per_runtime(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, scenario_dict(test={"batch_size": 4})))
    cells = {c.name: c for c in matrix.plan_cells(scenario, chains=["ort-quantize:onnxruntime"])}
    assert cells["onnxruntime-fp32"].chain == "onnx-export → onnxruntime"
    assert cells["onnxruntime-int8"].chain.startswith("onnx-export → ort-quantize")
    assert cells["torch-fp32"].chain == "torch" and cells["torch-int8"].status == "n/a"
    assert cells["onnxruntime-chain1"].optimizers == [{"type": "ort-quantize", "parameters": {}}]
    if installed("executorch"):  # static-batch compilers get the scenario's test batch size
        assert cells["executorch-int8"].optimizers == [
            {"type": "executorch-export", "parameters": {"quantization": "int8", "batch": 4}}]


def test_bad_arguments_are_input_errors(tmp_path):
    scenario = load_scenario(write_scenario(tmp_path, scenario_dict()))
    with pytest.raises(InputError, match="unknown runtime 'onnxrutime'"):
        matrix.plan_cells(scenario, runtimes=["onnxrutime"])
    with pytest.raises(InputError, match="expected OPTIMIZER"):
        matrix.plan_cells(scenario, chains=["ort-quantize"])
    with pytest.raises(InputError, match="unknown variant"):
        matrix.plan_cells(scenario, variants=("fp16",))


def test_matrix_runs_every_installed_backend_and_reports_an_impossible_chain(workdir, capsys):
    runtimes = [r for r in ("onnxruntime", "torch", "litert", "executorch") if installed(r)]
    path = write_scenario(workdir, scenario_dict(test={"warmup": 1, "samples": 40}))
    out = workdir / "matrix"
    assert run_cli("matrix", path, "--runtimes", ",".join(runtimes), "--variants", "fp32",
                   "--chain", "ort-quantize:litert", "-o", out) == 0
    assert "1 failed" in capsys.readouterr().out
    document = json.loads((out / "matrix.json").read_text())
    assert document["int8_instructions"] == int8_instructions()  # decides how int8 kernels round
    assert f"int8 instructions {int8_instructions()}" in (out / "report.md").read_text()
    cells = {c["runtime"] + "-" + c["variant"]: c for c in document["cells"]}
    for runtime in runtimes:
        cell = cells[f"{runtime}-fp32"]
        if runtime == "litert" and cell["status"] == "failed":  # the converter is a separate extra
            assert "litert-convert" in cell["reason"]
            continue
        assert cell["status"] == "ok", cell["reason"]
        assert cell["result"]["agreement"] >= 0.95 and cell["result"]["size_bytes"] > 0
    impossible = cells["litert-chain1"]
    assert impossible["status"] == "failed"
    assert "no converter from 'onnx-int8' to 'tflite'" in impossible["reason"]
    markdown = (out / "report.md").read_text()
    assert "| onnxruntime-fp32 | onnx-export → onnxruntime | ok |" in markdown
    assert "[^1]: " in markdown and "no converter from 'onnx-int8'" in markdown
    html = (out / "report.html").read_text()
    assert "<details><summary>failed</summary>" in html and "data:image/png;base64," in html
