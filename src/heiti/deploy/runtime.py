"""A model for a runtime other than heiti micro as a folder to hand over: the final model
file, its IO specification as JSON, one sample and a minimal Python runner that loads the
model with that runtime and runs the sample (``python run.py``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from heiti import __version__
from heiti.core.artifact import Artifact
from heiti.deploy.folder import MARKER, refuse_foreign, render

# artifact format -> (the runner's runtime, the pip package it needs); formats not listed
# have no runner yet
RUNNERS = {"onnx": ("ONNX Runtime", "onnxruntime")}
IO_FILE, SAMPLE_FILE = "io.json", "sample.npz"


def write_package(artifact: Artifact, out: Path, sample: dict[str, np.ndarray], sample_source: str,
                  name: str) -> Path:
    """Write the package folder ``out`` (replacing an earlier heiti package there)."""
    from heiti.frameworks.native import fresh_dir

    runtime, requirement = RUNNERS[artifact.format]
    refuse_foreign(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = "model" + Path(artifact.path).suffix
    facts = {"name": name, "version": __version__, "artifact": Path(artifact.path).name, "model": model,
             "runtime": runtime, "requirement": requirement, "io_file": IO_FILE, "sample_file": SAMPLE_FILE,
             "sample_source": sample_source, "io": artifact.io,
             "size_bytes": artifact.size_bytes, "sha256": artifact.sha256}
    with fresh_dir(out) as tmp:
        shutil.copyfile(artifact.path, tmp / model)
        (tmp / IO_FILE).write_text(artifact.io.model_dump_json(indent=2) + "\n", encoding="utf-8")
        np.savez(tmp / SAMPLE_FILE, **sample)
        for template in ("run.py", "README.md"):
            (tmp / template).write_text(render("runtime", template, facts), encoding="utf-8")
        (tmp / MARKER).write_text(json.dumps({"heiti": __version__, "artifact": str(artifact.path),
                                              "artifact_sha256": artifact.sha256, "format": artifact.format,
                                              "runtime": runtime}, indent=2) + "\n", encoding="utf-8")
    return out
