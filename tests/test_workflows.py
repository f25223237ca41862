"""Workflows: a digits pipeline (ingest, train, export, quantize, evaluate, publish, a command)
run twice does nothing the second time; a changed parameter reruns exactly the steps after it."""

import json
import re
import sys

import yaml

from broker import Subscriber
from conftest import run_cli


def _workflow(folder, broker, calibration=50):
    steps = {
        "ingest": {"tool": "ingest", "with": {"dataset": {"type": "digits"}}},
        "train": {"tool": "train", "inputs": {"data": "ingest"},
                  "with": {"model": {"type": "tiny-cnn", "parameters": {"channels": [4, 8], "hidden": 16}},
                           "train": {"epochs": 2, "patience": None}}},
        "export": {"tool": "optimize", "inputs": {"model": "train", "data": "ingest"},
                   "with": {"optimizer": {"type": "onnx-export"}}},
        "quantize": {"tool": "optimize", "inputs": {"model": "export", "data": "ingest"},
                     "with": {"optimizer": {"type": "ort-quantize", "parameters": {
                         "mode": "static", "calibration_samples": calibration}}}},
        "evaluate": {"tool": "evaluate", "inputs": {"model": "quantize", "data": "ingest"},
                     "with": {"runtime": {"type": "onnxruntime"}, "test": {"samples": 40, "warmup": 1},
                              "report": False}},
        "publish": {"tool": "publish", "inputs": {"measurements": "evaluate"},
                    "with": {"to": broker.url("heiti/workflow")}},
        "size": {"tool": "command", "inputs": {"model": "export"}, "files": {"script": "size.py"},
                 "with": {"run": [sys.executable, "{inputs[script]}", "{inputs[model]}", "{output}"]}},
    }
    (folder / "size.py").write_text(
        "import pathlib, sys\n"
        "size = sum(p.stat().st_size for p in pathlib.Path(sys.argv[1]).iterdir())\n"
        "(pathlib.Path(sys.argv[2]) / 'size.txt').write_text(str(size))\n")
    path = folder / "workflow.yml"
    path.write_text(yaml.safe_dump({"name": "digits", "seed": 0, "steps": steps}, sort_keys=False))
    return path


def _actions(out):
    return dict(re.findall(r"^(\w+): (current|ran|would run)", out, flags=re.M))


def test_a_workflow_reruns_only_what_a_change_reaches(tmp_path, broker, capsys):
    subscriber = Subscriber(broker, "heiti/workflow")
    path = _workflow(tmp_path, broker)
    assert run_cli("workflow", path) == 0
    first = _actions(capsys.readouterr().out)
    assert first == dict.fromkeys(["ingest", "train", "export", "quantize", "evaluate", "publish", "size"],
                                  "ran")
    steps = tmp_path / "build" / "digits" / "steps"
    measurements = json.loads((steps / "evaluate" / "measurements.json").read_text())
    assert measurements["model"]["format"] == "onnx-int8"
    assert int((steps / "size" / "size.txt").read_text()) > 1000

    assert run_cli("workflow", path) == 0  # everything current: nothing runs
    assert set(_actions(capsys.readouterr().out).values()) == {"current"}

    _workflow(tmp_path, broker, calibration=60)
    assert run_cli("workflow", path, "--dry-run") == 0
    out = capsys.readouterr().out
    assert _actions(out) == {"ingest": "current", "train": "current", "export": "current",
                             "quantize": "would run", "evaluate": "would run", "publish": "would run",
                             "size": "current"}
    assert ("quantize: would run (parameters changed: optimizer.parameters.calibration_samples 50 -> 60)"
            in out)
    assert "evaluate: would run (input 'model' is rebuilt by step 'quantize')" in out

    assert run_cli("workflow", path) == 0
    ran = {step for step, action in _actions(capsys.readouterr().out).items() if action == "ran"}
    assert ran == {"quantize", "evaluate", "publish"}
    summaries = subscriber.wait_for(2)
    subscriber.close()
    assert len(summaries) == 2  # published once per new evaluation, not on the unchanged rerun
    assert all(payload["primary_metric"] == "accuracy" for _, payload in summaries)


def test_workflow_file_mistakes_name_their_place(tmp_path, capsys):
    cases = [
        ({"a": {"tool": "train", "inputs": {"data": "ingst"}, "with": {"model": {"type": "tiny-cnn"}}},
          "ingest": {"tool": "ingest", "with": {"dataset": {"type": "digits"}}}},
         "steps.a.inputs: no step named 'ingst'"),
        ({"a": {"tool": "optimize", "with": {"optimizer": {"type": "onnx-export"}}}},
         "steps.a.inputs lacks model, data: tool 'optimize' takes model, data"),
        ({"a": {"tool": "command", "inputs": {"x": "b"}, "with": {"run": ["true"]}},
          "b": {"tool": "command", "inputs": {"x": "a"}, "with": {"run": ["true"]}}},
         "the workflow's steps form a cycle: a -> b -> a"),
        ({"a": {"tool": "ingest", "with": {"dataset": {"type": "digits"}, "extra": 1}}},
         "steps.a.parameters.extra: Extra inputs are not permitted"),
        ({"a": {"tool": "ingests"}}, "steps.a.type: unknown tool 'ingests'"),
    ]
    for steps, message in cases:
        path = tmp_path / "w.yml"
        path.write_text(yaml.safe_dump({"name": "w", "steps": steps}))
        assert run_cli("workflow", path) == 2
        assert message in capsys.readouterr().err


def test_a_failing_command_fails_the_workflow_and_keeps_what_was_done(tmp_path, capsys):
    steps = {"ok": {"tool": "command", "with": {"run": [sys.executable, "-c", "print(1)"]}},
             "bad": {"tool": "command", "inputs": {"x": "ok"},
                     "with": {"run": [sys.executable, "-c", "import sys; sys.exit('broken input')"]}}}
    path = tmp_path / "w.yml"
    path.write_text(yaml.safe_dump({"name": "w", "steps": steps}))
    assert run_cli("workflow", path) == 1
    captured = capsys.readouterr()
    assert "step 'bad' (command): " in captured.err and "exited with 1" in captured.err
    assert "broken input" in captured.err
    assert run_cli("workflow", path, "--dry-run") == 0
    assert _actions(capsys.readouterr().out) == {"ok": "current", "bad": "would run"}
