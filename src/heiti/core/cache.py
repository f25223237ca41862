"""Artifacts by content: one key for everything that decides a step's output, and a store.

A ``StepKey`` names the tool, its parameters, the content hashes of its inputs, the
dataset's identity (what it is and the content of the files it reads), the calibration
samples, the seed and the tool versions. Two steps with equal keys make the same
artifact, so the optimizer chain, ``heiti matrix`` cells and ``heiti workflow`` steps
reuse each other's work from an ``ArtifactStore`` instead of rebuilding it, and a step
whose data, calibration set or tools changed is never served a stale result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from heiti.core.files import sha256_file, write_json

if TYPE_CHECKING:
    from heiti.core.dataset import Dataset, Samples

KEY_FILE = "key.json"
STORE_NAME = ".heiti-store"


class StepKey(BaseModel):
    tool: str
    parameters: dict[str, Any] = {}
    inputs: dict[str, str] = {}  # input name -> sha256 of its content
    dataset: dict[str, Any] | None = None
    calibration: str | None = None  # sha256 of the calibration samples
    seed: int | None = None
    versions: dict[str, str] = {}

    @property
    def digest(self) -> str:
        text = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def changes(self, old: StepKey | None) -> list[str]:
        """Why an artifact made under ``old`` is not this key's (empty: it is)."""
        if old is None:
            return ["never built"]
        reasons = []
        if old.tool != self.tool:
            reasons.append(f"tool {old.tool} -> {self.tool}")
        changed = _changed(old.parameters, self.parameters)
        if changed:
            reasons.append("parameters changed: " + ", ".join(changed))
        inputs = sorted(k for k in {*old.inputs, *self.inputs} if old.inputs.get(k) != self.inputs.get(k))
        if inputs:
            reasons.append("input changed: " + ", ".join(inputs))
        if old.dataset != self.dataset:
            reasons.append("dataset changed")
        if old.calibration != self.calibration:
            reasons.append("calibration samples changed")
        if old.seed != self.seed:
            reasons.append(f"seed {old.seed} -> {self.seed}")
        versions = _changed(old.versions, self.versions)
        if versions:
            reasons.append("tool versions changed: " + ", ".join(versions))
        return reasons


def _changed(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    old, new = _flat(old), _flat(new)
    return [f"{k} {json.dumps(old.get(k))} -> {json.dumps(new.get(k))}"
            for k in sorted({*old, *new}) if old.get(k) != new.get(k)]


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested parameters as dotted paths, so a change names the value that changed."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@cache
def _distributions() -> dict[str, list[str]]:
    from importlib.metadata import packages_distributions

    return dict(packages_distributions())


def tool_versions(modules: tuple[str, ...] | list[str] = ()) -> dict[str, str]:
    """heiti's version and those of the distributions that provide ``modules``."""
    from importlib.metadata import PackageNotFoundError, version

    from heiti import __version__

    found = {"heiti": __version__}
    for module in modules:
        for dist in _distributions().get(module.split(".")[0], []):
            try:
                found[dist] = version(dist)
            except PackageNotFoundError:
                continue
    return found


def samples_digest(samples: Samples) -> str:
    """Content hash of samples: every input (name, dtype, shape, values) and the truth."""
    digest = hashlib.sha256()
    for name in sorted(samples.inputs):
        array = np.ascontiguousarray(samples.inputs[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    truth = samples.truth
    if isinstance(truth, np.ndarray):
        digest.update(f"truth:{truth.dtype.str}:{truth.shape}".encode())
        digest.update(np.ascontiguousarray(truth).tobytes())
    else:
        digest.update(json.dumps(truth, sort_keys=True, default=_plain).encode())
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def dataset_identity(dataset: Dataset) -> dict[str, Any]:
    """What the dataset is: its type, its parameters with every file or folder it reads
    replaced by the hash of its content (moving the data changes nothing, editing it
    does), its task and the versions of the libraries that produce it."""
    described = dataset.describe()
    parameters = dict(described["parameters"])
    for field in dataset.given_paths:
        path = getattr(dataset.params, field)
        parameters[field] = f"sha256:{sha256_file(path)}" if path is not None and path.exists() else None
    return {"type": described["type"], "parameters": parameters, "task": dataset.task.describe(),
            "versions": tool_versions(dataset.requires)}


class ArtifactStore:
    """A folder of artifacts by key digest: ``ROOT/ab/abcdef.../`` holds the stored files
    and ``key.json``. An entry appears complete or not at all (renamed into place)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, key: StepKey) -> Path:
        digest = key.digest
        return self.root / digest[:2] / digest

    def find(self, key: StepKey) -> Path | None:
        entry = self.entry(key)
        return entry if (entry / KEY_FILE).is_file() else None

    def put(self, key: StepKey, files: dict[str, Path]) -> Path:
        """Copy ``files`` (stored name -> file or folder) into the key's entry."""
        entry = self.entry(key)
        if (entry / KEY_FILE).is_file():
            return entry
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=entry.parent))
        try:
            for name, source in files.items():
                copy(source, staging / name)
            write_json(staging / KEY_FILE, key.model_dump(mode="json"))
            staging.rename(entry)
        except OSError:
            if not (entry / KEY_FILE).is_file():  # another process storing the same key won
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return entry


def store_for(build_dir: Path) -> ArtifactStore:
    """The store shared by everything building beside ``build_dir`` (scenarios, matrix cells,
    AutoML trials, workflows): ``$HEITI_STORE``, else ``.heiti-store`` in its parent."""
    root = os.environ.get("HEITI_STORE")
    return ArtifactStore(Path(root) if root else Path(build_dir).parent / STORE_NAME)


def copy(source: Path, destination: Path) -> None:
    """Copy a file or a folder, replacing what is at ``destination``."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.is_dir():
        shutil.rmtree(destination)
    if source.is_dir():
        shutil.copytree(source, destination)
    else:
        shutil.copy2(source, destination)
