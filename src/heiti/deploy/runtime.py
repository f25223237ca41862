"""A model for a runtime other than heiti micro as a folder to hand over: the final model
file(s), its IO specification as JSON, one sample and a minimal Python runner that loads the
model with that runtime and runs the sample (``python run.py``)."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heiti import __version__
from heiti.core.artifact import Artifact
from heiti.deploy.folder import MARKER, refuse_foreign, render


@dataclass(frozen=True)
class Runner:
    """A runtime that run.py can load a model with (templates/runtime/run.py.j2 has its code)."""

    runtime: str  # heiti's name of the runtime
    title: str
    requirement: str  # the pip package run.py needs besides numpy
    formats: tuple[str, ...]


# the first runner of a format is the default for it; a scenario whose runtime is listed for
# the format gets that one (a .tflite for tflm rather than LiteRT)
RUNNERS = (Runner("onnxruntime", "ONNX Runtime", "onnxruntime", ("onnx",)),
           Runner("litert", "LiteRT", "ai-edge-litert", ("tflite", "tflite-int8")),
           Runner("tflm", "TensorFlow Lite Micro", "tflite-micro", ("tflite", "tflite-int8")),
           Runner("openvino", "OpenVINO", "openvino", ("openvino", "openvino-int8")),
           Runner("executorch", "ExecuTorch", "executorch", ("pte", "pte-int8")),
           Runner("iree", "IREE", "iree-base-runtime", ("iree",)),
           Runner("tvm", "Apache TVM", "apache-tvm", ("tvm",)))
FORMATS = tuple(dict.fromkeys(f for r in RUNNERS for f in r.formats))
IO_FILE, SAMPLE_FILE = "io.json", "sample.npz"


def runner_for(model_format: str, runtime: str | None) -> Runner:
    """The runner of ``runtime`` when it takes the format, else the format's default."""
    takes = [r for r in RUNNERS if model_format in r.formats]
    return next((r for r in takes if r.runtime == runtime), takes[0])


def model_files(artifact: Artifact) -> dict[str, Path]:
    """The files of the model in the package (name there -> file here): one file, or an
    OpenVINO IR's graph and weights."""
    path = Path(artifact.path)
    if artifact.format.startswith("openvino"):
        from heiti.frameworks import openvino_tools

        xml = openvino_tools.ir_path(artifact)
        return {"model.xml": xml, "model.bin": xml.with_suffix(".bin")}
    return {"model" + path.suffix: path}


def write_package(artifact: Artifact, out: Path, sample: dict[str, np.ndarray], sample_source: str,
                  name: str, runtime: str | None = None) -> Path:
    """Write the package folder ``out`` (replacing an earlier heiti package there) with the
    runner of ``runtime`` (default: the one of the artifact's format)."""
    from heiti.frameworks.native import fresh_dir

    runner = runner_for(artifact.format, runtime)
    refuse_foreign(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = model_files(artifact)
    facts = {"name": name, "version": __version__, "artifact": Path(artifact.path).name,
             "model": next(iter(files)), "model_files": list(files), "runner": runner.runtime,
             "runtime": runner.title, "requirement": runner.requirement, "io_file": IO_FILE,
             "sample_file": SAMPLE_FILE, "sample_source": sample_source, "io": artifact.io,
             "size_bytes": artifact.size_bytes, "sha256": artifact.sha256}
    with fresh_dir(out) as tmp:
        for file_name, source in files.items():
            shutil.copyfile(source, tmp / file_name)
        (tmp / IO_FILE).write_text(artifact.io.model_dump_json(indent=2) + "\n", encoding="utf-8")
        np.savez(tmp / SAMPLE_FILE, **sample)
        for template in ("run.py", "README.md"):
            (tmp / template).write_text(render("runtime", template, facts), encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps({"heiti": __version__, "artifact": str(artifact.path),
                                              "artifact_sha256": artifact.sha256, "format": artifact.format,
                                              "runtime": runner.runtime}, indent=2) + "\n", encoding="utf-8")
    return out
