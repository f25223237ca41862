"""Scenario loading: validation with paths, suggestions, path resolution, YAML and JSON."""

import json
import os

import pytest

from conftest import DIGITS_MODEL, run_cli, scenario_dict, write_scenario
from heiti.errors import InputError
from heiti.scenario import load_scenario, scenario_from_dict


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


@pytest.mark.parametrize("change, message, hint", [
    ({"dataset": {"type": "digits", "parameters": {"input_name": "x"}}},
     "dataset.parameters.input_name: Extra inputs are not permitted",
     "'input_name' was removed: a model's inputs take the dataset's inputs of the same name"),
    ({"task": {"type": "classification", "parameters": {"output_name": "logits"}}},
     "task.parameters.output_name: Extra inputs are not permitted",
     "set the task's 'input' or 'output' parameter"),
    ({"dataset": {"type": "digits", "parameters": {"val_fraction": 0}}},
     "dataset.parameters.val_fraction: Input should be greater than 0",
     "'val_fraction: 0' no longer means 'no validation': 'test: {split: all}' evaluates every"),
    ({"dataset": {"type": "digits", "parameters": {"test_fraction": 1}}},
     "dataset.parameters.test_fraction: Input should be less than 0.5",
     "'test_fraction: 1' no longer means 'test on everything': 'test: {split: all}'"),
])
def test_fields_removed_since_an_earlier_heiti_get_the_new_way(tmp_path, capsys, change, message,
                                                               hint):
    assert run_cli("test", write_scenario(tmp_path, scenario_dict(**change))) == 2
    err = capsys.readouterr().err
    assert message in err and hint in err


def test_a_bad_fraction_that_is_no_old_usage_gets_no_migration_hint(tmp_path, capsys):
    data = scenario_dict(dataset={"type": "digits", "parameters": {"val_fraction": 0.7}})
    assert run_cli("test", write_scenario(tmp_path, data)) == 2
    assert "split: all" not in capsys.readouterr().err


@pytest.mark.parametrize("change, message", [
    ({"seed": 2**80}, "seed: Input should be less than or equal to 4294967295"),
    ({"dataset": {"type": "digits", "parameters": {"seed": 2**64}}},
     "dataset.parameters.seed: Input should be less than or equal to 4294967295"),
    ({"seed": True}, "seed: Input should be a value, not the flag true"),
    ({"test": {"warmup": False}}, "test.warmup: Input should be a value, not the flag false"),
    ({"target": {"kind": "remote", "port": True}},
     "target.parameters.port: Input should be a value, not the flag true"),
    ({"target": {"kind": "remote", "protocol": "pipe", "command": []}},
     "target.parameters.command: List should have at least 1 item"),
])
def test_red_team_values_are_refused_at_load_with_exit_2(tmp_path, capsys, change, message):
    path = write_scenario(tmp_path, scenario_dict(**change))
    assert run_cli("test", path) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "build").exists()


def test_flags_stay_flags(tmp_path):
    data = scenario_dict(test={"save_outputs": True}, report={"enabled": False})
    scenario = load_scenario(write_scenario(tmp_path, data))
    assert scenario.spec.test.save_outputs is True and scenario.spec.report.enabled is False


def test_api_scenario_given_a_list_raises_heitis_input_error():
    import heiti.api as heiti

    with pytest.raises(InputError, match=r"takes a mapping of scenario sections, got list \['x'\]"):
        heiti.scenario(["x"])
    with pytest.raises(InputError, match="a mapping or a file path, got int 3"):
        heiti.train(3)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="a scenario is a mapping of sections .* got str 'x'"):
        scenario_from_dict("x")  # type: ignore[arg-type]


def test_paths_take_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("HEITI_TEST_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HEITI_TEST_OUT", str(tmp_path / "out"))
    (tmp_path / "data" / "one").mkdir(parents=True)
    data = scenario_dict(
        build_dir="${HEITI_TEST_OUT}/build",
        dataset={"type": "image-folder", "parameters": {"path": "${HEITI_TEST_DATA}"}},
        model=dict(DIGITS_MODEL, path="${HEITI_TEST_OUT}/$model.pt"),  # a bare $ stays
        report={"directory": "${HEITI_TEST_UNSET_VARIABLE:-reports}/r"})
    scenario = load_scenario(write_scenario(tmp_path / "conf", data))
    assert scenario.build_dir == tmp_path / "out" / "build"
    assert scenario.model_path == tmp_path / "out" / "$model.pt"
    assert scenario.dataset.params.path == tmp_path / "data"
    assert scenario.dataset.given_paths["path"] == "${HEITI_TEST_DATA}"
    assert scenario.report_dir == tmp_path / "conf" / "reports" / "r"


@pytest.mark.parametrize("change, message, hint", [
    ({"build_dir": "${HEITI_TEST_UNSET_VARIABLE}/b"},
     "build_dir: the environment variable HEITI_TEST_UNSET_VARIABLE in "
     "'${HEITI_TEST_UNSET_VARIABLE}/b' is not set", "export HEITI_TEST_UNSET_VARIABLE="),
    ({"dataset": {"type": "image-folder", "parameters": {"path": "${HEITI_TEST_UNSET_VARIABLE}"}}},
     "dataset.parameters.path: the environment variable HEITI_TEST_UNSET_VARIABLE",
     "${HEITI_TEST_UNSET_VARIABLE:-default/path}"),
    ({"dataset": {"type": "image-folder", "parameters": {"path": "${HEITI_TEST_DATA/x"}}},
     "dataset.parameters.path: '${HEITI_TEST_DATA/x' has a '${' that does not start a variable",
     "close the braces"),
])
def test_an_unset_variable_in_a_path_exits_2_naming_field_and_variable(
        tmp_path, capsys, monkeypatch, change, message, hint):
    monkeypatch.delenv("HEITI_TEST_UNSET_VARIABLE", raising=False)
    assert run_cli("test", write_scenario(tmp_path, scenario_dict(**change))) == 2
    err = capsys.readouterr().err
    assert message in err and hint in err
    assert not (tmp_path / "build").exists()
