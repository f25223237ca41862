"""A careless user and a hostile file (issue 11): every mistake gets a message and the exit
code the README promises (2 bad input, 1 failed run), never a traceback, and heiti never
touches a file of the user's dataset. Real files throughout: a tiny ONNX classifier
written with onnx.helper and a folder of 8x8 PNG images."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from conftest import run_cli, scenario_dict, write_scenario
from heiti.datasets.image_folder import ImageFolderParams
from heiti.scenario import ReportSettings, Scenario, TestSettings

SRC = Path(__file__).resolve().parents[1] / "src"


# --- real files: a tiny classifier and an image folder --------------------------------------


def onnx_classifier(path: Path, classes: int = 3, shape: tuple[int, ...] = (1, 8, 8),
                    dtype: str = "float32") -> Path:
    """A linear classifier over flattened ``shape`` inputs (input 'x', output 'scores')."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    features = int(np.prod(shape))
    weight = np.random.default_rng(0).normal(size=(features, classes)).astype(np.float32)
    elem = {"float32": TensorProto.FLOAT, "int64": TensorProto.INT64}[dtype]
    nodes = [] if dtype == "float32" else [helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT)]
    nodes += [helper.make_node("Flatten", ["xf" if nodes else "x"], ["flat"], axis=1),
              helper.make_node("MatMul", ["flat", "w"], ["scores"])]
    graph = helper.make_graph(
        nodes, "tiny", [helper.make_tensor_value_info("x", elem, ["N", *shape])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", classes])],
        initializer=[numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def image_folder(root: Path, classes: int = 3, per_class: int = 4, size: int = 8) -> Path:
    rng = np.random.default_rng(1)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"{i}.png")
    return root


def user_scenario(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "mine",
        "build_dir": "build",
        "dataset": {"type": "image-folder",
                    "parameters": {"path": "images", "size": [8, 8], "grayscale": True}},
        "model": {"type": "onnx-file", "path": "model.onnx"},
        "runtime": {"type": "onnxruntime"},
        "test": {"warmup": 0, "split": "all"},
        "report": {"enabled": False},
    }
    data.update(overrides)
    return data


@pytest.fixture
def user(tmp_path) -> Path:
    """A user's folder: images/ (3 classes of 4 PNGs) and model.onnx (3 outputs)."""
    image_folder(tmp_path / "images")
    onnx_classifier(tmp_path / "model.onnx")
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` with its content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def heiti(*args: Any, capsys: Any) -> tuple[int, str]:
    code = run_cli(*args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def heiti_process(*args: Any, limit_bytes: int) -> subprocess.CompletedProcess:
    """heiti in its own process with a real file size limit."""
    def limits() -> None:
        # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run([sys.executable, "-m", "heiti", *map(str, args)], capture_output=True,
                          text=True, timeout=120, env=env, preexec_fn=limits)


# --- the dataset against the model, before inference ---------------------------------------


@pytest.mark.parametrize("change, words", [
    ({"dataset.size": [16, 16]}, ["float32[?x1x8x8]", "float32[?x1x16x16]", "size: [8, 8]"]),
    ({"dataset.grayscale": False}, ["float32[?x3x8x8]", "grayscale: true"]),
    ({"model.shape": (64,)}, ["float32[?x64]", "float32[?x1x8x8]"]),
    ({"model.dtype": "int64"}, ["int64", "float32"]),
    ({"dataset.classes": 4}, ["scores 3 classes", "has 4"]),
    ({"dataset.classes": 2}, ["scores 3 classes", "has 2"]),
    ({"dataset.classes": 10, "model.classes": 3}, ["scores 3 classes", "has 10"]),
])
def test_dataset_that_does_not_fit_the_model_is_refused_before_inference(
        tmp_path, capsys, change, words):
    image_folder(tmp_path / "images", classes=change.get("dataset.classes", 3), per_class=2)
    onnx_classifier(tmp_path / "model.onnx", classes=change.get("model.classes", 3),
                    shape=change.get("model.shape", (1, 8, 8)), dtype=change.get("model.dtype", "float32"))
    data = user_scenario()
    for key in ("size", "grayscale"):
        if f"dataset.{key}" in change:
            data["dataset"]["parameters"][key] = change[f"dataset.{key}"]
    code, err = heiti("test", write_scenario(tmp_path, data), capsys=capsys)
    assert code == 2, err
    assert "hint:" in err and all(w in err for w in words), err
    assert "heiti: test:" not in err  # nothing was run on the target
    assert not (tmp_path / "build" / "measurements.json").exists()


# --- evaluation on every sample, predictions per file, a report naming what was measured ----


def test_all_split_predictions_per_file_and_report_naming_dataset_and_split(user, capsys):
    data = user_scenario(report={"enabled": True})
    code, err = heiti("run", write_scenario(user, data), capsys=capsys)
    assert code == 0, err
    rows = (user / "build" / "predictions.csv").read_text().splitlines()
    assert rows[0] == "sample,truth,prediction" and len(rows) == 13
    assert {r.split(",")[0] for r in rows[1:]} == {f"class{c}/{i}.png" for c in range(3) for i in range(4)}
    report = (user / "build" / "report" / "report.md").read_text()
    assert "image-folder" in report and "all split, 12 samples" in report
    assert str(user / "images") in report
    assert "set test.min_duration_s" in report  # a short run: the CPU/memory plot shows little


# --- heiti's outputs never inside a dataset ---------------------------------------------------


@pytest.mark.parametrize("overrides", [
    {"build_dir": "images/class0/build"},
    {"build_dir": "images"},
    {"report": {"enabled": True, "directory": "images/class1"}},
])
def test_outputs_inside_the_dataset_folder_are_refused_before_anything_is_written(
        user, capsys, overrides):
    before = snapshot(user)
    code, err = heiti("run", write_scenario(user, user_scenario(**overrides)), capsys=capsys)
    assert code == 2 and "inside the dataset" in err and "hint:" in err, err
    after = snapshot(user)
    assert after == {**before, "scenario.yml": after["scenario.yml"]}
    assert not (user / "build").exists()


def test_artifact_store_inside_the_dataset_folder_is_refused(user, capsys, monkeypatch):
    monkeypatch.setenv("HEITI_STORE", str(user / "images" / "store"))
    code, err = heiti("test", write_scenario(user, user_scenario()), capsys=capsys)
    assert code == 2 and "artifact store" in err and "inside the dataset" in err, err
    assert not (user / "images" / "store").exists() and not (user / "build").exists()


def test_report_and_matrix_output_inside_the_dataset_folder_are_refused(user, capsys):
    scenario = write_scenario(user, user_scenario())
    assert heiti("test", scenario, capsys=capsys)[0] == 0
    images = snapshot(user / "images")
    code, err = heiti("report", user / "build" / "measurements.json", "-o", user / "images" / "class2",
                      capsys=capsys)
    assert code == 2 and "inside the dataset" in err, err
    code, err = heiti("matrix", scenario, "--runtimes", "onnxruntime", "-o", user / "images" / "m",
                      capsys=capsys)
    assert code == 2 and "inside the dataset" in err, err
    assert snapshot(user / "images") == images


def test_automl_output_inside_the_dataset_folder_is_refused(user, capsys):
    search = {"parameters": {"model.parameters.hidden": {"choices": [0, 16]}}, "budget": {"trials": 1}}
    data = user_scenario(model={"type": "tiny-cnn", "train": {"epochs": 1}}, search=search)
    before = snapshot(user / "images")
    code, err = heiti("automl", write_scenario(user, data), "-o", user / "images" / "search", capsys=capsys)
    assert code == 2, err
    assert f"output folder '{user / 'images' / 'search'}' is inside the dataset '{user / 'images'}'" in err
    assert snapshot(user / "images") == before and not (user / "images" / "search").exists()


def test_a_tampered_store_entry_is_rebuilt_not_reused(user, capsys):
    """Zeroing an exported model's weights in the build folder and in the store: the chain
    notices both and exports again, with the same output as before."""
    model = {"type": "tiny-cnn", "parameters": {"channels": [2], "hidden": 0}, "path": "model.pt",
             "train": {"epochs": 1}}
    data = user_scenario(model=model, optimizers=[{"type": "onnx-export"}])
    scenario = write_scenario(user, data)
    assert heiti("optimize", scenario, capsys=capsys)[0] == 0
    built = user / "build" / "01-onnx-export.onnx"
    original = built.read_bytes()
    (stored,) = [p for p in (user / ".heiti-store").glob("*/*/artifact") if p.read_bytes() == original]
    assert stored.stat().st_mode & 0o222 == 0  # read-only in the store
    for path in (built, stored):
        path.chmod(0o644)
        path.write_bytes(bytes(len(original)))
    code, err = heiti("optimize", scenario, capsys=capsys)
    assert code == 0, err
    assert re.search(r"artifact store: entry [0-9a-f]{12} was changed after it was stored "
                     r"\(artifact changed\); rebuilding it", err), err
    assert "optimizers[0] onnx-export: torch -> onnx (its file was changed after it was built)" in err
    assert built.read_bytes() == original and stored.read_bytes() == original  # a deterministic export


def test_only_regular_image_files_are_read(user, capsys):
    fifo = user / "images" / "class0" / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading blocks until a writer comes
    (user / "images" / "class1" / "folder.png").mkdir()
    codes: list[int] = []
    run = threading.Thread(target=lambda: codes.append(run_cli("test", write_scenario(
        user, user_scenario()))), daemon=True)
    run.start()
    run.join(timeout=60)
    if run.is_alive():
        with open(fifo, "wb"):  # release the blocked reader, then fail
            pass
        run.join()
    assert codes == [0], capsys.readouterr().err
    assert "12 all samples" in capsys.readouterr().err


def test_decompression_bomb_png_is_refused(user, capsys):
    Image.new("1", (16000, 12000)).save(user / "images" / "class0" / "bomb.png")  # 192 Mpixel
    code, err = heiti("test", write_scenario(user, user_scenario()), capsys=capsys)
    assert code == 2 and "bomb.png" in err, err


def test_report_plot_names_stay_inside_the_output_folder(user, capsys):
    assert heiti("test", write_scenario(user, user_scenario()), capsys=capsys)[0] == 0
    document = json.loads((user / "build" / "measurements.json").read_text())
    paths = []
    for i, name in enumerate(["../../escaped", "/tmp/escaped-abs"]):
        document["name"] = name
        paths.append(user / f"m{i}.json")
        paths[-1].write_text(json.dumps(document))
    out = user / "deep" / "er" / "out"
    before = snapshot(user)
    code, err = heiti("report", *paths, "-o", out, capsys=capsys)
    assert code == 0, err
    changed = {k for k, v in snapshot(user).items() if before.get(k) != v}
    assert changed and all(k.startswith("deep/er/out/") for k in changed), changed
    assert not Path("/tmp/escaped-abs-latency.png").exists()


# --- OSError: a file where a folder should be, a full disk ------------------------------------


def test_build_dir_or_report_output_being_a_file(user, capsys):
    (user / "taken").write_text("a file")
    code, err = heiti("test", write_scenario(user, user_scenario(build_dir="taken/build")),
                      capsys=capsys)
    assert code == 2 and "taken" in err, err
    code, err = heiti("report", user / "nothing.json", "-o", user / "taken", capsys=capsys)
    assert code == 2, err
    assert heiti("test", write_scenario(user, user_scenario()), capsys=capsys)[0] == 0
    code, err = heiti("report", user / "build" / "measurements.json", "-o", user / "taken",
                      capsys=capsys)
    assert code == 2 and "taken" in err and "not a directory" in err.lower(), err
    assert (user / "taken").read_text() == "a file"


def test_a_full_disk_is_a_message_not_a_traceback(user):
    scenario = write_scenario(user, user_scenario(report={"enabled": True}))
    result = heiti_process("run", scenario, limit_bytes=6000)  # model.onnx fits, the rest not
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "heiti: error:" in result.stderr
    assert "File too large" in result.stderr


# --- files heiti cannot read ------------------------------------------------------------------


def test_scenario_that_is_not_utf8_or_too_deep(tmp_path, capsys):
    bad = tmp_path / "latin1.yml"
    bad.write_bytes("name: caf\xe9\n".encode("latin-1"))
    code, err = heiti("test", bad, capsys=capsys)
    assert code == 2 and "UTF-8" in err, err
    deep = tmp_path / "deep.yml"
    deep.write_text("name: x\nmodel: " + "[" * 20000 + "]" * 20000 + "\n")
    code, err = heiti("test", deep, capsys=capsys)
    assert code == 2 and "deep" in err, err
    deep_json = tmp_path / "deep.json"
    deep_json.write_text('{"name": ' + "[" * 100000 + "]" * 100000 + "}")
    code, err = heiti("test", deep_json, capsys=capsys)
    assert code == 2, err


@pytest.mark.parametrize("field, value", [("size", [0, 8]), ("size", [8, -1]), ("seed", -1)])
def test_impossible_dataset_parameters(user, capsys, field, value):
    data = user_scenario()
    data["dataset"]["parameters"][field] = value
    code, err = heiti("test", write_scenario(user, data), capsys=capsys)
    assert code == 2 and f"dataset.parameters.{field}" in err, err


def test_measurements_of_another_schema_version(user, capsys):
    assert heiti("test", write_scenario(user, user_scenario()), capsys=capsys)[0] == 0
    path = user / "build" / "measurements.json"
    for version, hint in ((1, "rerun 'heiti test'"), (99, "upgrade heiti")):
        document = json.loads(path.read_text())
        document["schema_version"] = version
        path.write_text(json.dumps(document))
        code, err = heiti("report", path, "-o", user / "r", capsys=capsys)
        assert code == 2 and f"schema version {version}" in err and hint in err, err
    assert not (user / "r").exists()


class _Payload:
    """Unpickling this would run a shell command."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pt_and_damaged_sidecars(workdir, capsys):
    scenario = write_scenario(workdir, scenario_dict())
    pt = workdir / "model" / "model.pt"
    sidecar = pt.with_name("model.pt.json")
    good = sidecar.read_text()
    marker = workdir / "pwned"
    import torch

    torch.save({"weight": _Payload(marker)}, pt)
    code, err = heiti("optimize", scenario, capsys=capsys)
    assert code == 2 and "model.pt" in err and "weights_only=False" not in err, err
    assert "weights_only" not in err.split("hint:")[-1]
    assert not marker.exists()
    for damaged in ("[1, 2]", good[: len(good) // 2], '"text"'):
        sidecar.write_text(damaged)
        code, err = heiti("optimize", scenario, capsys=capsys)
        assert code == 2 and "model.pt.json" in err and "heiti train --force" in err, err


def test_onnx_file_sidecar_in_the_build_dir_is_remade_when_damaged(user, capsys):
    scenario = write_scenario(user, user_scenario())
    assert heiti("test", scenario, capsys=capsys)[0] == 0
    (user / "build" / "model.onnx.json").write_text("[]")
    code, err = heiti("test", scenario, capsys=capsys)
    assert code == 0, err
    assert json.loads((user / "build" / "model.onnx.json").read_text())["format"] == "onnx"


# --- what heiti shows: parameter limits, report and log ---------------------------------------


def test_info_shows_parameter_limits(capsys):
    assert run_cli("info", "image-folder") == 0
    out = capsys.readouterr().out
    assert "val_fraction: float = 0.15  (> 0, < 0.5)" in out
    assert "calibration_size: int = 200  (>= 1)" in out
    assert "size: tuple[int, int] = (32, 32)  (each > 0)" in out
    assert run_cli("info", "npz-arrays") == 0
    assert "(length >= 1)" in capsys.readouterr().out


def test_remote_target_log_line_gives_the_target_latency(user, capsys):
    data = user_scenario(target={"kind": "remote", "protocol": "pipe"},
                         report={"enabled": True})
    code, err = heiti("run", write_scenario(user, data), capsys=capsys)
    assert code == 0, err
    line = next(text for text in err.splitlines() if "median latency" in text)
    assert "median latency on the target" in line and "host round trip" in line
    document = json.loads((user / "build" / "measurements.json").read_text())
    assert f"{document['performance']['target_latency_ms']['p50']:.4f} ms" in line
    report = (user / "build" / "report" / "report.md").read_text()
    assert "timed around the runtime call only" not in report
    assert "on the target" in report and "transport included" in report


def test_matrix_marks_chains_that_cannot_exist_not_applicable(user, capsys):
    scenario = write_scenario(user, user_scenario())
    code, err = heiti("matrix", scenario, "--runtimes", "onnxruntime,torch", "--variants", "fp32",
                      "-o", user / "m", capsys=capsys)
    assert code == 0, err
    cells = {c["runtime"]: c for c in json.loads((user / "m" / "matrix.json").read_text())["cells"]}
    assert cells["onnxruntime"]["status"] == "ok"
    assert cells["torch"]["status"] == "n/a" and "from 'onnx' to 'torch'" in cells["torch"]["reason"]
    assert not [c for c in cells.values() if c["status"] == "failed"]


def test_micro_memory_in_the_report(workdir, capsys):
    data = scenario_dict(optimizers=[{"type": "micro-ptq", "parameters": {"calibration_samples": 32}},
                                     {"type": "micro-c", "parameters": {"check_samples": 0}}],
                         runtime={"type": "micro-host"}, test={"warmup": 0, "samples": 20})
    code, err = heiti("run", write_scenario(workdir, data), capsys=capsys)
    assert code == 0, err
    report = (workdir / "build" / "report" / "report.md").read_text()
    assert "## Microcontroller memory" in report and "| activation arena |" in report
    sidecar = json.loads(next((workdir / "build").glob("*micro-c.json")).read_text())
    arena = sidecar["provenance"]["details"]["arena_bytes"]
    assert f"| activation arena | {arena:,} |" in report
    m4 = sidecar["provenance"]["details"].get("cortex_m4", {})
    if "flash_bytes" in m4:
        assert f"| Cortex-M4 flash | {m4['flash_bytes']:,} |" in report


# --- any value in any field: a message and an exit code, nothing touched ---------------------

# every field of the scenario and of its dataset's and runtime's parameters
FIELDS = ([f for f in Scenario.model_fields] + [f"test.{f}" for f in TestSettings.model_fields]
          + [f"report.{f}" for f in ReportSettings.model_fields]
          + [f"dataset.parameters.{f}" for f in ImageFolderParams.model_fields]
          + ["dataset.type", "model.type", "model.path", "model.train", "runtime.type",
             "runtime.parameters.threads", "target.kind", "target.protocol"])
PATHS = ["images", "images/class0", "model.onnx", "out", "../outside", "", ".", "scenario.yml",
         "build/model.onnx", "no/such/file.onnx"]
NAMES = ["image-folder", "onnx-file", "onnxruntime", "tiny-cnn", "digits", "remote", "local",
         "classification", "all", "test", "pipe", "tcp"]
VALUES = st.one_of(
    st.none(), st.booleans(),
    st.integers(-3, 40), st.sampled_from([2**31, 2**63, -(2**63), 10**30]),
    st.floats(-2, 2), st.sampled_from([float("nan"), float("inf"), -float("inf"), 1e300, 1e-300]),
    st.text(max_size=12), st.sampled_from(PATHS + NAMES),
    st.lists(st.one_of(st.integers(-2, 40), st.floats(-2, 2), st.text(max_size=4)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=4)), max_size=2),
)


def _put(data: dict[str, Any], field: str, value: Any) -> None:
    *parents, leaf = field.split(".")
    for key in parents:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    data[leaf] = value


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sandbox")
    image_folder(root / "work" / "images", per_class=4)
    onnx_classifier(root / "work" / "model.onnx")
    return root


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), VALUES, min_size=1, max_size=2))
def test_any_value_in_any_field_gives_a_message_and_touches_nothing_else(sandbox, capsys, changes):
    import shutil

    work = sandbox / "work"
    for stale in [p for p in sandbox.iterdir() if p.name != "work"] + [
            p for p in work.iterdir() if p.name not in ("images", "model.onnx")]:
        shutil.rmtree(stale) if stale.is_dir() and not stale.is_symlink() else stale.unlink()
    data = user_scenario(test={"warmup": 0, "split": "all", "samples": 6})
    for field, value in changes.items():
        _put(data, field, value)
    scenario = work / "scenario.yml"
    scenario.write_text(yaml.safe_dump(data), encoding="utf-8")
    before = snapshot(sandbox)
    code = run_cli("test", scenario)
    captured = capsys.readouterr()
    event(f"exit {code}")
    assert code in (0, 1, 2), captured.err
    assert "Traceback" not in captured.err and "unexpected" not in captured.err, captured.err
    if code:
        assert "heiti: error: " in captured.err
    # heiti writes only its build folder (and the artifact store beside it), never the dataset
    build = data.get("build_dir")
    allowed = [f"work/{build}/" if isinstance(build, str) else None, "work/build/", "work/.heiti-store/",
               ".heiti-store/", "outside/"]
    changed = {k for k, v in snapshot(sandbox).items() if before.get(k) != v}
    changed |= {k for k in before if not (sandbox / k).exists()}
    outside = {k for k in changed - {"work/scenario.yml"}
               if not any(a and Path(k).is_relative_to(Path(a)) for a in allowed)}
    assert not outside, (changes, outside)
    assert not {k for k in changed if k.startswith(("work/images/", "work/model.onnx"))}


def test_framework_error_inside_a_step_names_the_step(tmp_path, capsys):
    """A model the ONNX checker accepts but ONNX Runtime cannot run (an operator of an
    unknown domain): onnx-graph has no error handling of its own."""
    import onnx
    from onnx import TensorProto, helper

    image_folder(tmp_path / "images")
    graph = helper.make_graph(
        [helper.make_node("Scores", ["x"], ["scores"], domain="com.example")], "custom",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx")
    data = user_scenario(optimizers=[{"type": "onnx-graph"}], test={"warmup": 0})
    code, err = heiti("test", write_scenario(tmp_path, data), capsys=capsys)
    assert code == 1 and "optimizers[0] onnx-graph failed:" in err and "Scores" in err, err
