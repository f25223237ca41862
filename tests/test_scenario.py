"""Scenario loading: validation with paths, suggestions, path resolution, YAML and JSON."""

import json
import os

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.errors import InputError
from heiti.scenario import load_scenario


def test_paths_resolve_relative_to_the_scenario_file_not_the_cwd(tmp_path, monkeypatch):
    path = write_scenario(tmp_path / "project" / "conf", scenario_dict(build_dir="../out"))
    monkeypatch.chdir(tmp_path)
    scenario = load_scenario(os.path.relpath(path))
    assert scenario.build_dir == (tmp_path / "project" / "out").resolve()
    assert scenario.model_path == (tmp_path / "project" / "conf" / "model" / "model.pt").resolve()
    assert scenario.report_dir == scenario.build_dir / "report"


def test_json_and_yaml_scenarios_are_equivalent(tmp_path):
    data = scenario_dict()
    yml = load_scenario(write_scenario(tmp_path, data))
    js = tmp_path / "scenario.json"
    js.write_text(json.dumps(data))
    assert load_scenario(js).resolved() == yml.resolved()


def test_defaults_are_filled_in_the_resolved_scenario(tmp_path):
    resolved = load_scenario(write_scenario(tmp_path, scenario_dict())).resolved()
    assert resolved["optimizers"][0] == {"type": "onnx-export", "parameters": {
        "opset": 18, "dynamic_batch": True, "check_samples": 16, "keep_debug_info": False}}
    assert resolved["target"] == {"kind": "local"}
    assert resolved["test"]["batch_size"] == 1


@pytest.mark.parametrize("change, message", [
    ({"optimizers": [{"type": "onnx-export"}, {"type": "ort-quantize", "parameters": {"mode": "fast"}}]},
     "optimizers[1].parameters.mode: Input should be 'static' or 'dynamic'"),
    ({"test": {"warmup": -1}}, "test.warmup: Input should be greater than or equal to 0"),
    ({"test": {"batch_size": "four"}}, "test.batch_size: Input should be a valid integer"),
    ({"runtime": {"type": "onnxruntime", "parameters": {"thread": 2}}},
     "runtime.parameters.thread: Extra inputs are not permitted"),
    ({"tset": {}}, "tset: Extra inputs are not permitted"),
    ({"dataset": {"type": "digits", "parameters": {"val_fraction": 0.9}}},
     "dataset.parameters.val_fraction: Input should be less than 0.5"),
])
def test_bad_values_are_reported_with_their_path_and_exit_2(tmp_path, capsys, change, message):
    path = write_scenario(tmp_path, scenario_dict(**change))
    assert run_cli("test", path) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "build" / "measurements.json").exists()


def test_missing_required_section(tmp_path, capsys):
    data = scenario_dict()
    del data["runtime"]
    assert run_cli("optimize", write_scenario(tmp_path, data)) == 2
    assert "runtime: Field required" in capsys.readouterr().err


@pytest.mark.parametrize("section, wrong, suggestion", [
    ("runtime", {"type": "onnxruntim"}, "did you mean 'onnxruntime'"),
    ("dataset", {"type": "digit"}, "did you mean 'digits'"),
])
def test_unknown_component_names_suggest_close_ones(tmp_path, capsys, section, wrong, suggestion):
    assert run_cli("test", write_scenario(tmp_path, scenario_dict(**{section: wrong}))) == 2
    err = capsys.readouterr().err
    assert f"{section}.type: unknown" in err and suggestion in err


def test_unknown_optimizer_in_the_chain(tmp_path):
    data = scenario_dict(optimizers=[{"type": "onnx-export"}, {"type": "ort-quantise"}])
    with pytest.raises(InputError) as info:
        load_scenario(write_scenario(tmp_path, data))
    assert "optimizers[1].type" in info.value.message and "ort-quantize" in info.value.hint


def test_missing_scenario_file_and_bad_yaml(tmp_path, capsys):
    assert run_cli("run", tmp_path / "nope.yml") == 2
    assert "scenario file" in capsys.readouterr().err
    bad = tmp_path / "bad.yml"
    bad.write_text("name: [unclosed\n")
    assert run_cli("test", bad) == 2
    assert "not valid YAML/JSON" in capsys.readouterr().err
    bad.write_text("- just\n- a list\n")
    assert run_cli("test", bad) == 2
    assert "mapping at the top level" in capsys.readouterr().err
