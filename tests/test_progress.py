"""Progress and status lines on a real pseudo-terminal (bars with an ETA, status lines never
printed onto a bar, even when the work inside a bar stops early), `heiti matrix` with k of N
and the best so far, and the quiet switch (`--quiet`, HEITI_QUIET)."""

from __future__ import annotations

import csv
import json
import logging
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli, scenario_dict, write_scenario
from heiti.pipeline import progress

SRC = Path(__file__).resolve().parents[1] / "src"


def _read_all(fd: int, process: subprocess.Popen | None = None) -> str:
    """Everything written to a pseudo-terminal's other side until it is closed."""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            if process is None or process.poll() is not None:
                break
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not data:
            break
        chunks.append(data)
    return b"".join(chunks).decode(errors="replace")


def _status_lines_start_lines(text: str) -> None:
    """Every status line begins a line of its own: after a newline or a cleared bar."""
    for match in re.finditer(r"heiti: ", text):
        before = text[max(0, match.start() - 3) : match.start()]
        assert match.start() == 0 or before.endswith(("\n", "\x1b[K")), repr(text[match.start() - 80 :
                                                                                  match.start() + 40])


def test_a_bar_stopped_by_an_exception_ends_its_line_before_the_next_status(monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal:
        with pytest.raises(RuntimeError), progress.Progress(10, "training", stream=terminal) as bar:
            bar.update(note="val_loss=0.5")
            progress.status("heiti: a line while the bar is drawn", stream=terminal)
            bar.update(note="val_loss=0.4")
            raise RuntimeError("pruned")  # what Optuna's TrialPruned does inside training
        progress.status("heiti: automl: trial 3 pruned", stream=terminal)
    text = _read_all(master).replace("\r\n", "\n")  # the terminal's own translation undone
    os.close(master)
    assert "training [###" in text and "2/10 ETA" in text
    # the line printed during the bar clears it and the bar is drawn again below it
    assert "\r\x1b[Kheiti: a line while the bar is drawn\n\rtraining [" in text
    assert text.endswith("val_loss=0.4\x1b[K\nheiti: automl: trial 3 pruned\n")
    _status_lines_start_lines(text)


def test_eta_and_durations():
    assert progress.eta(10.0, 1, 5) == "ETA 40 s"
    assert progress.eta(10.0, 0, 5) == "" and progress.eta(10.0, 5, 5) == ""
    assert progress.duration(125) == "2 min 05 s" and progress.duration(7300) == "2 h 01 min"


def test_matrix_on_a_pseudo_terminal_counts_cells_and_names_the_best(workdir, tmp_path):
    scenario = write_scenario(workdir, scenario_dict())
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1",
           "HEITI_CACHE": str(tmp_path / "cache")}
    env.pop(progress.QUIET_ENV, None)
    master, slave = pty.openpty()
    command = [sys.executable, "-m", "heiti", "matrix", str(scenario), "--runtimes", "onnxruntime",
               "-o", str(tmp_path / "matrix")]
    process = subprocess.Popen(command, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    text = _read_all(master, process).replace("\r\n", "\n")
    os.close(master)
    assert process.wait() == 0, text[-3000:]
    assert "matrix: 1 of 2 cells done, ETA " in text
    assert re.search(r"matrix: 2 of 2 cells done; best so far: accuracy 0\.\d{4} at [\d.]+ ms "
                     r"\(onnxruntime-(fp32|int8)\)", text)
    assert "inference [####" in text  # bars on a terminal
    cells = list(csv.DictReader((tmp_path / "matrix" / "matrix.csv").open()))
    assert {c["cell"] for c in cells} == {"onnxruntime-fp32", "onnxruntime-int8"}
    assert all(c["status"] == "ok" and float(c["p50_ms"]) > 0 for c in cells)
    assert json.loads((tmp_path / "matrix" / "matrix.json").read_text())["cells"][0]["result"]["predictions"]
    _status_lines_start_lines(text)
    quiet = subprocess.run([*command[:3], "--quiet", *command[3:]], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0 and quiet.stderr == ""  # its own lines only, on stdout
    assert "2 cells ran, 0 failed" in quiet.stdout and "inference" not in quiet.stdout


def test_quiet_prints_results_only_and_restores_the_process_state(workdir, capsys, monkeypatch):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    scenario = write_scenario(workdir, scenario_dict())
    assert run_cli("--quiet", "run", scenario) == 0
    out, err = capsys.readouterr()
    assert err == "" and "report.html" in out
    assert progress.QUIET_ENV not in os.environ and logging.root.manager.disable == logging.NOTSET
    assert run_cli("run", scenario) == 0
    assert "heiti: test: accuracy" in capsys.readouterr().err
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    assert run_cli("run", scenario) == 0
    assert capsys.readouterr().err == ""
