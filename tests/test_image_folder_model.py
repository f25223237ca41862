"""A user's own ONNX model on a folder of images (the examples/image-folder flow)."""

import json
import shutil

import numpy as np
import yaml
from PIL import Image
from sklearn.datasets import load_digits

from conftest import EXAMPLES_DIR, run_cli, scenario_dict, write_scenario


def test_user_onnx_model_on_image_folder(workdir):
    assert run_cli("optimize", write_scenario(workdir, scenario_dict())) == 0
    user = workdir / "user"
    shutil.copytree(EXAMPLES_DIR / "image-folder", user, ignore=shutil.ignore_patterns("images", "*.onnx"))
    shutil.copyfile(workdir / "build" / "01-onnx-export.onnx", user / "model.onnx")
    digits = load_digits()
    for i in range(300):  # a small subset as PNG files, 0..16 scaled to 0..255
        folder = user / "images" / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(digits.images[i] * 255 / 16).astype(np.uint8), mode="L").save(
            folder / f"{i}.png")
    scenario = user / "scenario.yml"
    assert yaml.safe_load(scenario.read_text())["model"] == {"type": "onnx-file", "path": "model.onnx"}
    assert run_cli("run", scenario) == 0
    doc = json.loads((user / "build" / "my-onnx-model" / "measurements.json").read_text())
    assert doc["quality"]["details"]["class_names"] == [str(d) for d in range(10)]
    assert 85 <= doc["quality"]["samples"] <= 95  # 30 % of 300, rounded per class
    assert doc["quality"]["metrics"]["accuracy"] > 0.85
    assert doc["model"]["chain"][0]["producer"] == "model:onnx-file"
    assert (user / "build" / "my-onnx-model" / "report" / "report.html").exists()
