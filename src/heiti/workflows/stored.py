"""Samples stored by the ingest tool, and the artifacts steps pass to each other.

``ingest`` writes a dataset's splits to ``samples.npz`` (arrays ``SPLIT/INPUT`` and
``SPLIT/truth``) and ``dataset.json`` (its identity, class names and task), so later
steps read the same samples by content instead of re-reading the original files.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from heiti import registry
from heiti.core.artifact import Artifact, sidecar_path
from heiti.core.dataset import Dataset, Samples
from heiti.core.files import write_atomic, write_json
from heiti.errors import InputError

SAMPLES_FILE, INFO_FILE = "samples.npz", "dataset.json"
STORED_SPLITS = ("train", "val", "test", "calibration")


def write_samples(dataset: Dataset, identity: dict[str, Any], folder: Path) -> None:
    arrays: dict[str, np.ndarray] = {}
    for split in STORED_SPLITS:
        samples = dataset.split(split)
        if not isinstance(samples.truth, np.ndarray):
            raise InputError(f"dataset '{dataset.name}' has per-sample truth of varying size, "
                             "which the ingest tool does not store yet")
        arrays.update({f"{split}/{name}": array for name, array in samples.inputs.items()})
        arrays[f"{split}/truth"] = samples.truth
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(folder / SAMPLES_FILE, buffer.getvalue())
    write_json(folder / INFO_FILE, {"identity": identity, "class_names": dataset.class_names,
                                    "task": dataset.task.describe(),
                                    "inputs": list(dataset.split("test").inputs)})


class StoredDataset(Dataset):
    """The samples an ingest step stored (not registered: workflows make it)."""

    name = "ingested"

    def __init__(self, folder: Path):
        super().__init__()
        self.folder = folder
        self.stored = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
        task = self.stored["task"]
        self.task = registry.get("task", task["type"])(task["parameters"])

    @property
    def class_names(self) -> list[str]:
        return list(self.stored["class_names"])

    def describe(self) -> dict[str, Any]:
        return {"type": self.name, "parameters": {"identity": self.stored["identity"]}}

    def _load_splits(self) -> dict[str, Samples]:
        with np.load(self.folder / SAMPLES_FILE, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        splits = {split: Samples({name: arrays[f"{split}/{name}"] for name in self.stored["inputs"]},
                                 arrays[f"{split}/truth"]) for split in STORED_SPLITS}
        parts = [splits[s] for s in ("train", "val", "test")]
        splits["all"] = Samples({name: np.concatenate([p.inputs[name] for p in parts])
                                 for name in self.stored["inputs"]},
                                np.concatenate([p.truth for p in parts]))
        return splits


def artifact_in(folder: Path, step: str) -> Artifact:
    """The one model artifact (a file with its sidecar) in a step's output."""
    found = [p for p in sorted(folder.iterdir()) if not p.name.endswith(".json")
             and sidecar_path(p).is_file()]
    if len(found) != 1:
        raise InputError(f"the output of step '{step}' holds {len(found)} model artifacts, not one")
    return Artifact.load(found[0])
