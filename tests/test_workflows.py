"""Workflows: a digits pipeline (ingest, train, export, quantize, evaluate, publish, a command)
run twice does nothing the second time; a changed parameter reruns exactly the steps after it."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
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


def test_a_relabeled_image_reruns_ingest_and_training_an_untouched_folder_nothing(tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "images" / f"class{c}").mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(
                tmp_path / "images" / f"class{c}" / f"{i}.png")
    steps = {"ingest": {"tool": "ingest", "with": {"dataset": {"type": "image-folder", "parameters": {
                 "path": "images", "size": [8, 8], "grayscale": True}}}},
             "train": {"tool": "train", "inputs": {"data": "ingest"},
                       "with": {"model": {"type": "tiny-cnn",
                                          "parameters": {"channels": [2, 4], "hidden": 8}},
                                "train": {"epochs": 1, "batch_size": 8, "patience": None}}}}
    path = tmp_path / "w.yml"
    path.write_text(yaml.safe_dump({"name": "w", "steps": steps}))
    assert run_cli("workflow", path) == 0
    assert _actions(capsys.readouterr().out) == {"ingest": "ran", "train": "ran"}
    assert run_cli("workflow", path) == 0
    assert _actions(capsys.readouterr().out) == {"ingest": "current", "train": "current"}
    (tmp_path / "images" / "class0" / "3.png").rename(tmp_path / "images" / "class1" / "3b.png")
    assert run_cli("workflow", path) == 0
    out = capsys.readouterr().out
    assert _actions(out) == {"ingest": "ran", "train": "ran"}
    assert "ingest: ran" in out and "(dataset changed)" in out


# --- the store and step names (issue 20) -----------------------------------------------------


def _write(folder, steps, **top):
    path = folder / "w.yml"
    path.write_text(yaml.safe_dump({"name": "w", "steps": steps, **top}))
    return path


def _writer(text="hello"):
    """A command step that writes out.txt (no Python startup cost beyond one interpreter)."""
    code = f"import pathlib, sys; (pathlib.Path(sys.argv[1]) / 'out.txt').write_text({text!r})"
    return {"tool": "command", "with": {"run": [sys.executable, "-c", code, "{output}"]}}


@pytest.mark.parametrize("name", ["../../../notes.txt", "", ".", "..", "sizes/v1", "../../x", "-x"])
def test_a_step_name_that_is_not_a_plain_name_is_refused(tmp_path, capsys, name):
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    assert run_cli("workflow", _write(work, {name: _writer()})) == 2
    err = capsys.readouterr().err
    assert f"steps: the step name {name!r} is not allowed" in err
    assert "hint: a step name is letters, digits" in err
    assert notes.read_text() == "mine" and not notes.is_symlink()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "c", "notes.txt", "w.yml"]


def test_the_build_folder_holds_copies_and_a_changed_store_entry_is_rebuilt(tmp_path, capsys):
    path = _write(tmp_path, {"make": _writer()})
    assert run_cli("workflow", path) == 0
    capsys.readouterr()
    built = tmp_path / "build" / "w" / "steps" / "make"
    assert built.is_dir() and not built.is_symlink()
    (stored,) = (tmp_path / "build" / ".heiti-store").glob("*/*/output/out.txt")
    assert stored.stat().st_mode & 0o222 == 0  # read-only in the store

    (built / "out.txt").write_text("edited in the build folder")  # edits the copy only
    assert stored.read_text() == "hello"
    assert run_cli("workflow", path) == 0
    assert _actions(capsys.readouterr().out) == {"make": "current"}
    assert (built / "out.txt").read_text() == "hello"  # the build folder shows the stored output

    stored.chmod(0o644)
    stored.write_text("tampered")
    assert run_cli("workflow", path) == 0
    out = capsys.readouterr().out
    assert re.search(r"make: artifact store: entry [0-9a-f]{12} was changed after it was stored "
                     r"\(output/out.txt changed\); rebuilding it", out), out
    assert _actions(out) == {"make": "ran"}
    assert (built / "out.txt").read_text() == "hello" and stored.read_text() == "hello"


def test_workflow_outputs_inside_the_data_an_ingest_step_reads_are_refused(tmp_path, capsys):
    from PIL import Image

    for c in range(2):
        (tmp_path / "images" / f"c{c}").mkdir(parents=True)
        Image.new("L", (8, 8), c).save(tmp_path / "images" / f"c{c}" / "0.png")
    ingest = {"ingest": {"tool": "ingest", "with": {"dataset": {"type": "image-folder", "parameters": {
        "path": "images", "size": [8, 8], "grayscale": True}}}}}
    def files():
        return sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    before = files()
    for top, what in [({"build_dir": "images/build"}, "build_dir"), ({"store": "images/c0/store"}, "store")]:
        assert run_cli("workflow", _write(tmp_path, ingest, **top)) == 2
        err = capsys.readouterr().err
        assert f"{what} '{tmp_path / top[what]}' is inside the dataset '{tmp_path / 'images'}'" in err
        assert files() == sorted([*before, Path("w.yml")])  # nothing written


def test_a_command_past_its_timeout_ends_with_everything_it_started(tmp_path, capsys):
    code = ("import pathlib, subprocess, sys\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
            "pathlib.Path('child.pid').write_text(str(child.pid))\n"
            "child.wait()\n")
    (tmp_path / "spawn.py").write_text(code)
    steps = {"hang": {"tool": "command", "with": {"run": [sys.executable, "spawn.py"], "timeout_s": 10}}}
    assert run_cli("workflow", _write(tmp_path, steps)) == 1
    assert "ran longer than timeout_s 10; it and the processes it started were stopped" in \
        capsys.readouterr().err
    child = int((tmp_path / "child.pid").read_text())
    assert _ended(child)


def _ended(pid):
    """The process is gone or a zombie (killed, not yet reaped by init). No waiting: heiti
    returns only when the pipes the child inherited are closed, that is when it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "State:\tZ" in status or "State:\tX" in status
