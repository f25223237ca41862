"""``heiti matrix`` and ``heiti automl`` in a terminal: each runs as a separate process on a real
pseudo-terminal (stdin, stdout and stderr), as in a terminal window, with tiny configurations.
They show "k of N" with an ETA and the best so far, and without --verbose nothing but heiti's
own lines: the matrix's LiteRT cell makes real native noise (absl's and TensorFlow Lite's
lines on file descriptor 2), which lands in BUILD_DIR/libraries.log instead."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from conftest import scenario_dict, write_scenario
from heiti import registry
from process_helpers import run_in_pty

pytest.importorskip("onnxruntime")

BAR = re.compile(r"^\w[\w ]* \[[#-]+\] \d+/\d+")  # heiti's progress bar, redrawn after \r


def _heiti(*args: str | Path) -> str:
    """heiti's output on a terminal (exit code 0), the child's environment as a user's: no
    quieting of native libraries set beforehand."""
    env = {k: v for k, v in os.environ.items() if k not in ("HEITI_QUIET", "TF_CPP_MIN_LOG_LEVEL")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    code, text = run_in_pty([sys.executable, "-m", "heiti", *map(str, args)], env)
    assert code == 0, text
    return text


def _foreign_lines(text: str, own: tuple[str, ...]) -> list[str]:
    """Lines that are not heiti's: status lines, progress bars, and the command's results
    (lines starting with one of ``own``)."""
    lines = [line.replace("\x1b[K", "").strip() for line in re.split(r"\r\n|\r|\n", text)]
    return [line for line in lines if line and not (line.startswith(("heiti: ", *own)) or BAR.match(line))]


def _installed(kind: str, name: str) -> bool:
    return not registry.get(kind, name).missing_modules()


def test_matrix_shows_k_of_n_an_eta_and_the_best_and_only_its_own_lines(workdir):
    litert = _installed("runtime", "litert") and _installed("optimizer", "litert-convert")
    noisy = "litert" if litert else "torch"
    path = write_scenario(workdir, scenario_dict(test={"warmup": 1, "samples": 40}))
    out = workdir / "matrix"
    text = _heiti("matrix", path, "--runtimes", f"onnxruntime,{noisy}", "--variants", "fp32", "-o", out)
    assert re.search(r"heiti: matrix: 1 of 2 cells done, ETA \d+ (s|min).*; best so far: accuracy \d\.\d+ "
                     r"at [\d.]+ ms \(onnxruntime-fp32\)", text), text
    assert "heiti: matrix: 2 of 2 cells done; best so far: accuracy" in text
    assert _foreign_lines(text, (str(out), "2 cells ran")) == []
    if noisy == "litert":  # the converter's and interpreter's native lines went to the log
        logged = (workdir / "build" / "libraries.log").read_text()
        assert "Created TensorFlow Lite XNNPACK delegate for CPU" in logged
        assert "XNNPACK" not in text


def test_automl_shows_k_of_n_an_eta_and_the_best_and_only_its_own_lines(tmp_path):
    pytest.importorskip("optuna")
    model = {"type": "tiny-cnn", "parameters": {"channels": [4], "hidden": 16},
             "train": {"epochs": 1, "batch_size": 64}}
    search = {"parameters": {"model.parameters.hidden": {"choices": [0, 16]}},
              "budget": {"trials": 2, "epochs": 1}, "best": 1}
    data = scenario_dict("pty", model=model, optimizers=[], runtime={"type": "torch"},
                         test={"warmup": 0, "samples": 40}, search=search)
    text = _heiti("automl", write_scenario(tmp_path, data), "--no-best")
    assert re.search(r"heiti: automl: 1 of 2 trials done, ETA \d+ (s|min).*; best so far: trial 0 "
                     r"\(metric [\d.]+\)", text), text
    assert "heiti: automl: 2 of 2 trials done; best so far: trial " in text
    assert _foreign_lines(text, (str(tmp_path / "build" / "automl"), "trials: 2 trained")) == []
