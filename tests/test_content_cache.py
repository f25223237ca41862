"""One content key for cached steps: what invalidates an artifact, and sharing between scenarios."""

import json
import shutil

import numpy as np

from conftest import DIGITS_MODEL, run_cli, scenario_dict, write_scenario
from heiti.core.artifact import Artifact
from heiti.core.cache import ArtifactStore, StepKey, samples_digest
from heiti.core.dataset import Samples
from heiti.datasets.digits import Digits

INT8_CHAIN = [{"type": "onnx-export"},
              {"type": "ort-quantize", "parameters": {"mode": "static", "calibration_samples": 50}}]


def test_the_key_says_what_changed():
    key = StepKey(tool="optimizer:x", parameters={"a": 1}, inputs={"model": "m"}, calibration="c1",
                  seed=0, versions={"heiti": "1"})
    assert key.changes(key.model_copy()) == []
    assert key.changes(None) == ["never built"]
    other = key.model_copy(update={"calibration": "c2", "parameters": {"a": 2}})
    assert other.digest != key.digest
    assert other.changes(key) == ["parameters changed: a 1 -> 2", "calibration samples changed"]


def test_samples_digest_sees_values_and_truth():
    x = np.zeros((3, 2), np.float32)
    base = samples_digest(Samples({"input": x}, np.array([0, 1, 2])))
    assert samples_digest(Samples({"input": x}, np.array([0, 1, 1]))) != base
    assert samples_digest(Samples({"input": x + 1}, np.array([0, 1, 2]))) != base
    assert samples_digest(Samples({"input": x.copy()}, np.array([0, 1, 2]))) == base


def _digits_npz(path, scale=1.0):
    data = Digits().split("all")
    np.savez(path, input=data.x * np.float32(scale), labels=data.truth)


def test_changed_calibration_data_rebuilds_the_int8_artifact(workdir, capsys):
    # same parameters, same file name: only the samples inside the file differ
    _digits_npz(workdir / "data.npz")
    model = {k: v for k, v in DIGITS_MODEL.items() if k != "train"} | {"path": "model/model.pt"}
    data = scenario_dict(dataset={"type": "npz-arrays", "parameters": {"path": "data.npz"}},
                         model=model, optimizers=INT8_CHAIN)
    path = write_scenario(workdir, data)
    assert run_cli("optimize", path) == 0
    int8 = Artifact.load(workdir / "build" / "02-ort-quantize.onnx")
    assert run_cli("optimize", path) == 0
    assert "optimizers[1] ort-quantize: up to date" in capsys.readouterr().err
    _digits_npz(workdir / "data.npz", scale=0.5)
    assert run_cli("optimize", path) == 0
    rebuilt = Artifact.load(workdir / "build" / "02-ort-quantize.onnx")
    assert ("optimizers[1] ort-quantize: onnx -> onnx-int8 (dataset changed; calibration samples "
            "changed)") in capsys.readouterr().err
    assert rebuilt.provenance.key.calibration != int8.provenance.key.calibration
    assert rebuilt.sha256 != int8.sha256  # other activation ranges, other scales
    assert rebuilt.provenance.key.changes(int8.provenance.key)[:2] == [
        "dataset changed", "calibration samples changed"]


def test_scenarios_building_side_by_side_share_artifacts(workdir, capsys):
    first = write_scenario(workdir, scenario_dict(name="a", build_dir="build/a", optimizers=INT8_CHAIN),
                           "a.yml")
    second = write_scenario(workdir, scenario_dict(name="b", build_dir="build/b", optimizers=INT8_CHAIN),
                            "b.yml")
    assert run_cli("optimize", first) == 0
    capsys.readouterr()
    assert run_cli("optimize", second) == 0
    log = capsys.readouterr().err
    assert "optimizers[0] onnx-export: reused from the artifact store" in log
    assert "optimizers[1] ort-quantize: reused from the artifact store" in log
    a, b = (Artifact.load(workdir / "build" / d / "02-ort-quantize.onnx") for d in "ab")
    assert a.sha256 == b.sha256 and b.is_current()
    store = ArtifactStore(workdir / "build" / ".heiti-store")
    assert store.find(a.provenance.key) is not None


# --- training keyed by the dataset's content (issue 19) -------------------------------------


def _images(root, seed=1, classes=2, per_class=8):
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), mode="L").save(folder / f"{i}.png")
    return root


def _image_scenario(name="mine", images="images", **overrides):
    return scenario_dict(name=name, **{
        "dataset": {"type": "image-folder",
                    "parameters": {"path": images, "size": [8, 8], "grayscale": True}},
        "model": {"type": "tiny-cnn", "parameters": {"channels": [2, 4], "hidden": 8},
                  "path": "model/model.pt",
                  "train": {"epochs": 1, "batch_size": 8, "patience": None}},
        "test": {"warmup": 1, "samples": 8}, "report": {"enabled": False}, **overrides})


def _trained(capsys, *args):
    assert run_cli(*args) == 0
    log = capsys.readouterr().err
    return [line for line in log.splitlines() if "heiti: model: " in line and "best epoch" not in line]


def test_relabeling_adding_or_editing_one_image_retrains_and_nothing_else_does(tmp_path, capsys):
    from PIL import Image

    images = _images(tmp_path / "images")
    path = write_scenario(tmp_path, _image_scenario())
    assert _trained(capsys, "train", path)[0] == "heiti: model: training tiny-cnn for up to 1 epochs"
    assert _trained(capsys, "train", path) == ["heiti: model: up to date (model.pt)"]
    first = Artifact.load(tmp_path / "model" / "model.pt")

    # relabel: classes 0 and 1 swap their images (same parameters, same file names)
    (images / "class0").rename(images / "swap")
    (images / "class1").rename(images / "class0")
    (images / "swap").rename(images / "class1")
    assert _trained(capsys, "run", path)[0] == ("heiti: model: training tiny-cnn for up to 1 epochs "
                                                "(dataset changed)")
    relabeled = Artifact.load(tmp_path / "model" / "model.pt")
    assert relabeled.provenance.key.dataset != first.provenance.key.dataset
    assert _trained(capsys, "run", path) == ["heiti: model: up to date (model.pt)"]

    pixels = np.asarray(Image.open(images / "class0" / "3.png")).copy()
    pixels[0, 0] ^= 0xFF  # one pixel of one image
    Image.fromarray(pixels, mode="L").save(images / "class0" / "3.png")
    assert "(dataset changed)" in _trained(capsys, "train", path)[0]
    assert _trained(capsys, "train", path) == ["heiti: model: up to date (model.pt)"]

    Image.fromarray(pixels.T.copy(), mode="L").save(images / "class1" / "new.png")
    assert "(dataset changed)" in _trained(capsys, "train", path)[0]
    assert _trained(capsys, "train", path) == ["heiti: model: up to date (model.pt)"]

    # moving the data changes nothing: the key holds its content, not its place
    images.rename(tmp_path / "moved")
    moved = write_scenario(tmp_path, _image_scenario(images="moved"))
    assert _trained(capsys, "train", moved) == ["heiti: model: up to date (model.pt)"]


def test_two_scenarios_sharing_a_model_path_never_overwrite_each_other(tmp_path, capsys):
    _images(tmp_path / "a", seed=1)
    _images(tmp_path / "b", seed=2)
    a = write_scenario(tmp_path, _image_scenario("a", "a", build_dir="build/a"), "a.yml")
    b = write_scenario(tmp_path, _image_scenario("b", "b", build_dir="build/b"), "b.yml")
    assert run_cli("train", a) == 0
    model = tmp_path / "model" / "model.pt"
    made_by_a = Artifact.load(model)
    capsys.readouterr()
    assert run_cli("run", b) == 2
    err = capsys.readouterr().err
    key = made_by_a.provenance.key.digest[:12]
    assert (f"model: '{model}' holds the model scenario 'a' built (key {key}); "
            "scenario 'b' needs another (key ") in err
    assert "dataset changed) and does not overwrite it" in err
    assert "hint: give each scenario its own model.path (or build_dir), or replace the other " \
           "scenario's model with 'heiti train --force'" in err
    assert Artifact.load(model).sha256 == made_by_a.sha256 and made_by_a.is_current()
    assert run_cli("train", a) == 0 and "model: up to date" in capsys.readouterr().err

    assert run_cli("train", b, "--force") == 0  # replaced only when asked
    assert Artifact.load(model).provenance.scenario == "b"
    capsys.readouterr()
    assert run_cli("train", a) == 2  # and now b's model is protected in turn
    assert "holds the model scenario 'b' built" in capsys.readouterr().err


def test_a_shared_model_made_by_an_older_heiti_is_retrained_by_whichever_scenario_runs_first(
        tmp_path, capsys, monkeypatch):
    """Scenarios that share model.path with the same data and training need the same model:
    after heiti changed, the first of them to run retrains it instead of refusing."""
    monkeypatch.setenv("HEITI_STORE", str(tmp_path / "store"))
    _images(tmp_path / "images")
    a = write_scenario(tmp_path, _image_scenario("a", build_dir="build/a"), "a.yml")
    b = write_scenario(tmp_path, _image_scenario("b", build_dir="build/b"), "b.yml")
    assert run_cli("train", a) == 0
    sidecar = tmp_path / "model" / "model.pt.json"
    made = json.loads(sidecar.read_text(encoding="utf-8"))
    key = made["provenance"]["key"]
    current = key["versions"]["heiti"]
    key["versions"]["heiti"] = key["dataset"]["versions"]["heiti"] = "0.0.1+older"  # an older heiti's
    sidecar.write_text(json.dumps(made), encoding="utf-8")
    shutil.rmtree(tmp_path / "store")  # which made nothing for this heiti yet
    capsys.readouterr()
    assert _trained(capsys, "run", b) == [
        "heiti: model: training tiny-cnn for up to 1 epochs (tool versions changed: "
        f'heiti "0.0.1+older" -> "{current}")']
    assert Artifact.load(tmp_path / "model" / "model.pt").provenance.scenario == "b"
    assert _trained(capsys, "run", a) == ["heiti: model: up to date (model.pt)"]


def test_a_retrained_model_comes_back_from_the_store_when_the_data_does(tmp_path, capsys):
    images = _images(tmp_path / "images")
    path = write_scenario(tmp_path, _image_scenario())
    assert run_cli("train", path) == 0
    first = Artifact.load(tmp_path / "model" / "model.pt")
    extra = images / "class1" / "0.png"
    saved = extra.read_bytes()
    extra.unlink()
    assert "training" in _trained(capsys, "train", path)[0]
    extra.write_bytes(saved)  # the data is back as it was: so is its model, without training
    assert _trained(capsys, "train", path) == ["heiti: model: reused from the artifact store (model.pt)"]
    assert Artifact.load(tmp_path / "model" / "model.pt").sha256 == first.sha256


def test_matrix_cells_train_once_and_retrain_on_relabeled_data(tmp_path, capsys):
    images = _images(tmp_path / "images")
    path = write_scenario(tmp_path, _image_scenario())
    matrix = ("matrix", path, "--runtimes", "onnxruntime", "--variants", "fp32", "--samples", "8")
    assert _trained(capsys, *matrix) == ["heiti: model: training tiny-cnn for up to 1 epochs",
                                         "heiti: model: up to date (model.pt)"]  # the cell reuses it
    (images / "class0" / "0.png").rename(images / "class1" / "moved.png")  # one image relabeled
    lines = _trained(capsys, *matrix)
    assert lines[0] == "heiti: model: training tiny-cnn for up to 1 epochs (dataset changed)"
    assert lines[1:] == ["heiti: model: up to date (model.pt)"]
    assert _trained(capsys, *matrix) == ["heiti: model: up to date (model.pt)"] * 2


def test_automl_trials_follow_the_same_rule(tmp_path, capsys, monkeypatch):
    """Trials of equal candidates share one trained model through the store; a relabeled
    image makes the next search train again."""
    monkeypatch.setenv("HEITI_STORE", str(tmp_path / "store"))
    images = _images(tmp_path / "images")
    search = {"parameters": {"model.parameters.hidden": {"choices": [8]}}, "budget": {"trials": 2}}
    path = write_scenario(tmp_path, _image_scenario(runtime={"type": "torch"}, optimizers=[], search=search))

    def searched(folder):  # each trial trains (or not), then tests the model it has
        lines = _trained(capsys, "automl", path, "--no-best", "-o", tmp_path / folder)
        assert lines[1::2] == ["heiti: model: up to date (model.pt)"] * 2
        return lines[::2]

    assert searched("s1") == ["heiti: model: training tiny-cnn for up to 1 epochs",
                              "heiti: model: reused from the artifact store (model.pt)"]
    (images / "class1" / "2.png").rename(images / "class0" / "moved.png")
    assert searched("s2") == ["heiti: model: training tiny-cnn for up to 1 epochs",
                              "heiti: model: reused from the artifact store (model.pt)"]


def test_fingerprints_follow_the_samples_content_not_their_place(tmp_path):
    import json

    from PIL import Image

    from heiti.datasets.coco_json import CocoJson

    # coco-json with its images beside the annotations: the images it names count, other
    # files there (a build folder, notes) do not
    for i in range(2):
        Image.new("RGB", (16, 16), (i * 90, 0, 0)).save(tmp_path / f"{i}.png")
    (tmp_path / "annotations.json").write_text(json.dumps({
        "images": [{"id": i, "file_name": f"{i}.png", "width": 16, "height": 16} for i in range(2)],
        "annotations": [{"id": i, "image_id": i, "category_id": 1, "bbox": [2, 2, 8, 8]} for i in range(2)],
        "categories": [{"id": 1, "name": "thing"}]}))

    def coco():
        return CocoJson({"annotations": "annotations.json"}, base_dir=tmp_path).fingerprint()

    first = coco()
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "model.pt").write_bytes(b"x")
    assert coco() == first
    Image.new("RGB", (16, 16), (0, 200, 0)).save(tmp_path / "1.png")  # one image edited
    assert coco()["parameters"]["images"] != first["parameters"]["images"]

    # a generated dataset: its parameters and heiti's version
    digits = Digits().fingerprint()
    assert digits["type"] == "digits" and "heiti" in digits["versions"]
    assert Digits({"seed": 1}).fingerprint() != digits


def test_an_edited_heiti_checkout_is_another_tool(tmp_path):
    """A source checkout keeps its version string while its code changes (a pull, an edited
    kernel): the step keys follow the code, so nothing it built before is reused as current."""
    import shutil
    from pathlib import Path

    import heiti
    from heiti.core.cache import heiti_code, tool_versions, tree_digest

    package = tmp_path / "heiti"
    shutil.copytree(Path(heiti.__file__).parent, package)
    before = tree_digest(package)
    (package / "__pycache__" / "stale.cpython-311.pyc").parent.mkdir(exist_ok=True)
    (package / "__pycache__" / "stale.cpython-311.pyc").write_bytes(b"bytecode")
    assert tree_digest(package) == before  # bytecode follows the sources
    kernel = package / "micro" / "c" / "add.c"
    kernel.write_text(kernel.read_text() + "\n/* edited */\n")
    assert tree_digest(package) != before
    assert tool_versions()["heiti"] == heiti_code() and heiti_code().startswith(heiti.__version__ + "+")
