"""Other libraries' log lines and warnings while a heiti command runs (heiti.pipeline.library_log,
as heiti.cli wraps every command): off the terminal and in BUILD_DIR/libraries.log of the
scenario the command loaded, on the terminal with --verbose. Real libraries emit them, in a
separate python process with its own stderr (pytest swaps stderr under optuna's handler):
optuna through its own console handler, numpy a RuntimeWarning, the 'torch' logger."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.cli import build_parser
from heiti.pipeline import library_log

pytest.importorskip("optuna")

COMMAND = """
import logging, sys
import numpy as np, optuna
from heiti.pipeline import library_log
from heiti.scenario import load_scenario

optuna.logging.set_verbosity(optuna.logging.INFO)
with library_log.captured(verbose=sys.argv[2] == "verbose"):
    if sys.argv[1]:
        load_scenario(sys.argv[1])  # what a command with a scenario does first
    optuna.create_study(study_name="noise-study")  # INFO: A new study created in memory ...
    np.mean(np.array([]))  # numpy's RuntimeWarning: Mean of empty slice
    logging.getLogger("torch").warning("torch-noise")
    logging.getLogger("optuna").error("optuna-error")  # errors still reach the terminal
logging.getLogger("torch").warning("after-the-command")
"""


def _run(scenario: Path | str, mode: str) -> str:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    done = subprocess.run([sys.executable, "-c", COMMAND, str(scenario), mode], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_library_lines_go_to_the_build_folders_log_not_the_terminal(tmp_path):
    scenario = write_scenario(tmp_path, scenario_dict("noise", build_dir="build-noise"))
    terminal = _run(scenario, "default")
    assert "noise-study" not in terminal and "Mean of empty slice" not in terminal
    assert "torch-noise" not in terminal and "optuna-error" in terminal
    assert "after-the-command" in terminal  # capture ends with the command
    logged = (tmp_path / "build-noise" / library_log.FILE_NAME).read_text()
    assert "A new study created in memory with name: noise-study" in logged
    assert "RuntimeWarning: Mean of empty slice" in logged and "torch-noise" in logged
    assert "optuna-error" not in logged and "after-the-command" not in logged


def test_without_a_build_folder_nothing_is_captured():
    terminal = _run("", "default")
    assert "noise-study" in terminal and "Mean of empty slice" in terminal and "torch-noise" in terminal


def test_verbose_lets_them_through_and_writes_no_log(tmp_path):
    assert build_parser().parse_args(["--verbose", "list"]).verbose
    scenario = write_scenario(tmp_path, scenario_dict("noise", build_dir="build-noise"))
    terminal = _run(scenario, "verbose")
    assert "noise-study" in terminal and "Mean of empty slice" in terminal and "torch-noise" in terminal
    assert not (tmp_path / "build-noise" / library_log.FILE_NAME).exists()


NATIVE = """
import logging, os, sys
from pathlib import Path
import tflite_micro
from ai_edge_litert.interpreter import Interpreter
from heiti.pipeline import library_log, progress
from heiti.scenario import load_scenario

model = Path(tflite_micro.__file__).parent / "python" / "tflite_micro" / "sine_float.tflite"
logging.getLogger("optuna").addHandler(logging.StreamHandler())  # holds sys.stderr as it is now
with library_log.captured(verbose=sys.argv[2] == "verbose"):
    load_scenario(sys.argv[1])
    Interpreter(model_path=str(model)).allocate_tensors()  # TFLite's C++ logs to fd 2
    progress.status("heiti: own-line")
    print("heiti: printed-line", file=sys.stderr)
    logging.getLogger("optuna").error("optuna-error")  # through the handler's old stream
os.write(2, b"after-the-command\\n")
"""


@pytest.mark.parametrize("mode", ["default", "verbose"])
def test_native_code_writing_to_fd_2_goes_to_the_log_and_heitis_lines_to_the_terminal(tmp_path, mode):
    """LiteRT's interpreter writes 'INFO: Created TensorFlow Lite XNNPACK delegate for CPU.' with
    C's stderr (fd 2), past Python; the model is the sine example shipped with tflite-micro."""
    pytest.importorskip("ai_edge_litert")
    pytest.importorskip("tflite_micro")
    scenario = write_scenario(tmp_path, scenario_dict("noise", build_dir="build-noise"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    for name in ("TF_CPP_MIN_LOG_LEVEL", "HEITI_QUIET"):  # heiti --quiet silences TFLite at the source
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", NATIVE, str(scenario), mode], capture_output=True,
                          text=True, env=env)
    assert done.returncode == 0, done.stderr
    terminal, log = done.stderr, tmp_path / "build-noise" / library_log.FILE_NAME
    for line in ("heiti: own-line", "heiti: printed-line", "optuna-error", "after-the-command"):
        assert line in terminal
    if mode == "verbose":
        assert "XNNPACK delegate" in terminal and not log.exists()
    else:
        assert "XNNPACK delegate" not in terminal
        logged = log.read_text()
        assert "Created TensorFlow Lite XNNPACK delegate for CPU" in logged
        assert "own-line" not in logged and "optuna-error" not in logged and "after" not in logged


def test_a_remote_targets_pipe_command_still_reaches_the_terminal(workdir):
    """A pipe target's command (ssh, in use) tells the user why it failed on its stderr, which
    heiti hands the terminal, not the log file fd 2 is during the command."""
    target = {"kind": "remote", "protocol": "pipe", "command": ["sh", "-c", "echo ssh-says-no >&2; exit 255"]}
    data = scenario_dict("pipe", optimizers=[], runtime={"type": "torch"}, target=target)
    path = write_scenario(workdir, data)
    done = subprocess.run([sys.executable, "-m", "heiti", "test", str(path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert done.returncode == 1, done.stderr
    assert "ssh-says-no" in done.stderr and "heiti: error:" in done.stderr
    log = workdir / "build" / library_log.FILE_NAME
    assert not log.exists() or "ssh-says-no" not in log.read_text()


def test_a_command_refused_for_bad_input_leaves_no_build_folder(tmp_path, capsys):
    """fd 2 points at BUILD_DIR/libraries.log from the moment the scenario loads; a command
    that then stops on bad input removes the empty log and the folders made for it."""
    # refused when the chain is planned: no converter turns the ONNX file back into PyTorch
    path = write_scenario(tmp_path, scenario_dict("refused", build_dir="deep/build",
                                                  runtime={"type": "torch"}))
    assert run_cli("test", path) == 2
    assert "torch" in capsys.readouterr().err
    assert not (tmp_path / "deep").exists()
