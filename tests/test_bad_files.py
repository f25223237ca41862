"""Bad files: clear messages, exit 2, and no measurements file written."""

import numpy as np

from conftest import run_cli, scenario_dict, write_scenario


def test_missing_model_file_without_training_names_the_path(tmp_path, capsys):
    model = {"type": "tiny-cnn", "path": "weights/none.pt"}
    assert run_cli("test", write_scenario(tmp_path, scenario_dict(model=model))) == 2
    err = capsys.readouterr().err
    assert "none.pt' does not exist and the scenario has no 'model.train' section" in err


def test_missing_onnx_file_names_the_path_as_given_and_resolved(tmp_path, capsys):
    model = {"type": "onnx-file", "path": "models/mine.onnx"}
    data = scenario_dict(model=model, optimizers=[])
    assert run_cli("test", write_scenario(tmp_path, data)) == 2
    err = capsys.readouterr().err
    assert f"model file '{tmp_path}/models/mine.onnx'" in err and "does not exist" in err


def test_corrupt_onnx_file_is_rejected_by_the_checker(tmp_path, capsys):
    (tmp_path / "broken.onnx").write_bytes(np.random.default_rng(0).bytes(300))
    data = scenario_dict(model={"type": "onnx-file", "path": "broken.onnx"}, optimizers=[])
    assert run_cli("run", write_scenario(tmp_path, data)) == 2
    err = capsys.readouterr().err
    assert "broken.onnx' is not a valid ONNX model" in err and "Traceback" not in err
    assert not (tmp_path / "build" / "measurements.json").exists()
    assert not (tmp_path / "build" / "model.onnx").exists()


def test_truncated_onnx_file_is_rejected(workdir, capsys):
    assert run_cli("optimize", write_scenario(workdir, scenario_dict())) == 0
    good = (workdir / "build" / "01-onnx-export.onnx").read_bytes()
    (workdir / "cut.onnx").write_bytes(good[: len(good) // 2])
    data = scenario_dict(model={"type": "onnx-file", "path": "cut.onnx"}, optimizers=[],
                         build_dir="b2")
    assert run_cli("test", write_scenario(workdir, data, "cut.yml")) == 2
    assert "cut.onnx' is not a valid ONNX model" in capsys.readouterr().err


def test_training_an_onnx_file_is_refused(tmp_path, capsys, workdir):
    data = scenario_dict(model={"type": "onnx-file", "path": "x.onnx",
                                "train": {"epochs": 1}}, optimizers=[])
    assert run_cli("test", write_scenario(tmp_path, data)) == 2
    assert "model.train: an 'onnx-file' model cannot be trained" in capsys.readouterr().err


def test_bad_measurements_file_for_report(tmp_path, capsys):
    (tmp_path / "m.json").write_text('{"hello": 1}')
    assert run_cli("report", tmp_path / "m.json", "-o", tmp_path / "r") == 2
    assert "not a heiti measurements file" in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.html").exists()
