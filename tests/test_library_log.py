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

from conftest import scenario_dict, write_scenario
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
