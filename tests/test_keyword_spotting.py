"""Keyword spotting end to end on espeak-ng words: a small DS-CNN trained on fixed-point
MFCC bytes, exported and quantized to int8 by ONNX Runtime, and run by heiti micro's C."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import run_cli, write_scenario
from heiti.core.artifact import Artifact
from package_helpers import run_board_example

pytest.importorskip("librosa", reason="needs the audio extra")
pytest.importorskip("cmsisdsp", reason="needs the audio extra")
pytest.importorskip("torch", reason="needs the torch extra")
pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (Debian)")

DATASET = {"type": "synthetic-keywords", "parameters": {
    "words": ["yes", "no", "stop"], "unknown_words": ["cat", "dog"],
    "voices": ["en-us", "en-gb+f2", "en-029+m7", "en-us+m1"], "pitches": [35, 65], "speeds": [150],
    "copies": 4, "test_fraction": 0.25, "val_fraction": 0.2, "cache_dir": "../espeak",
    "features": {"implementation": "cmsis-q15", "int8_scale": 0.25}}}
MODEL = {"type": "ds-cnn", "parameters": {"channels": 24, "blocks": 2}, "path": "model/model.pt",
         "train": {"epochs": 30, "lr": 0.005, "batch_size": 16, "patience": None, "threads": 1}}


def scenario(name, optimizers, runtime):
    return {"name": name, "build_dir": f"b/{name}", "seed": 0, "dataset": DATASET, "model": MODEL,
            "optimizers": optimizers, "runtime": runtime, "test": {"warmup": 1},
            "report": {"enabled": False}}


def test_synthetic_keywords_to_int8_and_heiti_micro(tmp_path):
    runs = {
        "fp32": ([{"type": "onnx-export"}], {"type": "onnxruntime"}),
        "int8": ([{"type": "onnx-export"}, {"type": "ort-quantize", "parameters": {"mode": "static"}}],
                 {"type": "onnxruntime"}),
        "micro": ([{"type": "micro-ptq", "parameters": {"scheme": "per-channel"}}, {"type": "micro-c"}],
                  {"type": "micro-host"}),
        "pruned": ([{"type": "prune", "parameters": {"keep": 0.5, "steps": 2, "epochs": 10, "lr": 0.003}},
                    {"type": "micro-ptq", "parameters": {"scheme": "per-channel"}}, {"type": "micro-c"}],
                   {"type": "micro-host"}),
    }
    work = tmp_path / "w"
    quality = {}
    for name, (optimizers, runtime) in runs.items():
        path = write_scenario(work, scenario(name, optimizers, runtime), f"{name}.yml")
        assert run_cli("run", path) == 0, name
        measurements = json.loads((work / "b" / name / "measurements.json").read_text())
        quality[name] = measurements["quality"]
    fp32 = quality["fp32"]
    assert fp32["metrics"]["accuracy"] > 0.6  # 5 classes (3 words, unknown, silence): chance is 0.2
    assert set(fp32["predictions"]) <= {"yes", "no", "stop", "unknown", "silence"}
    for name in ("int8", "micro"):
        agree = sum(a == b for a, b in zip(fp32["predictions"], quality[name]["predictions"], strict=True))
        assert agree / len(fp32["predictions"]) >= 0.85, name
    # the DS-CNN pruned to half its MACs (depthwise groups shrink with their pointwise inputs)
    # runs through heiti micro; 2 steps of 10 epochs of fine-tuning keep it close (docs/compression.md)
    pruned = json.loads((work / "b" / "pruned" / "measurements.json").read_text())
    prune = pruned["model"]["chain"][1]["details"]
    assert prune["macs_after"] <= 0.5 * prune["macs_before"]
    assert quality["pruned"]["metrics"]["accuracy"] >= quality["micro"]["metrics"]["accuracy"] - 0.15
    # the micro model reads the feature bytes as they are: its input scale is the features'
    micro = json.loads((work / "b" / "micro" / "measurements.json").read_text())
    io = Artifact.load(Path(micro["model"]["path"])).io.inputs[0]
    assert (io.dtype, io.scale) == ("uint8", 0.25)
    if all(shutil.which(tool) for tool in ("cmake", "make", "arm-none-eabi-gcc", "qemu-system-arm")):
        _package_runs_on_the_board(work / "micro.yml", tmp_path)


def _package_runs_on_the_board(scenario_path: Path, tmp_path: Path) -> None:
    """The keyword-spotting micro model as `heiti package` hands it over, built in a clean
    folder as its README says and run on the emulated mps2-an386: the example's outputs are
    the ones heiti's own engine computes (checked by the example itself)."""
    out = tmp_path / "kws-package"
    assert run_cli("package", scenario_path, "-o", out) == 0
    done = run_board_example(shutil.copytree(out, tmp_path / "clean"))
    assert done.returncode == 0 and "same as heiti's outputs" in done.stdout, done.stdout + done.stderr
