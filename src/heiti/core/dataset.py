"""Dataset interface: deterministic splits of named input tensors and a task's truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from heiti.core.component import Component
from heiti.core.iospec import IOSpec, TensorSpec
from heiti.core.task import DatasetInfo, Task

SPLITS = ("train", "val", "test", "calibration", "all")


@dataclass(frozen=True)
class Samples:
    """Model-ready named inputs (preprocessed, batch first), the task's ground truth for
    each sample (an array, or a list when ragged) and optional sample ids."""

    inputs: dict[str, np.ndarray]
    truth: Any
    ids: list[str] | None = None

    def __post_init__(self) -> None:
        lengths = {len(a) for a in self.inputs.values()} | {len(self.truth)}
        if len(lengths) != 1:
            raise ValueError(f"inputs and truth differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.truth)

    @property
    def x(self) -> np.ndarray:
        """The input of a single-input dataset."""
        if len(self.inputs) != 1:
            raise ValueError(f"the samples have {len(self.inputs)} inputs ({', '.join(self.inputs)})")
        return next(iter(self.inputs.values()))

    def take(self, index: np.ndarray) -> Samples:
        index = np.asarray(index, dtype=np.int64)
        return Samples({k: v[index] for k, v in self.inputs.items()}, Task.select(self.truth, index),
                       None if self.ids is None else [self.ids[i] for i in index])

    def head(self, n: int | None) -> Samples:
        return self if n is None or n >= len(self) else self.take(np.arange(n))

    def input_specs(self) -> list[TensorSpec]:
        return [TensorSpec(name=k, shape=[-1, *v.shape[1:]], dtype=v.dtype.name)
                for k, v in self.inputs.items()]


class Dataset(Component):
    """Base class: subclasses implement ``_load_splits`` and name their ``default_task``
    (a scenario's ``task`` section may replace it with a configured one)."""

    kind = "dataset"
    default_task: ClassVar[str] = "classification"

    _splits: dict[str, Samples] | None = None
    _task: Task | None = None

    @property
    def task(self) -> Task:
        if self._task is None:
            from heiti import registry

            self._task = registry.get("task", self.default_task)()
        return self._task

    @task.setter
    def task(self, task: Task) -> None:
        self._task = task

    def split(self, name: str) -> Samples:
        if name not in SPLITS:
            raise ValueError(f"unknown split '{name}', expected one of {', '.join(SPLITS)}")
        if self._splits is None:
            self._splits = self._load_splits()
        return self._splits[name]

    @property
    def class_names(self) -> list[str]:
        """Labels of classes (classification) or categories (detection); empty otherwise."""
        return []

    def content_paths(self) -> dict[str, Path | None]:
        """The files and folders whose content decides the samples, by parameter name
        (default: every path the scenario gave)."""
        return {field: getattr(self.params, field) for field in self.given_paths}

    def fingerprint(self) -> dict[str, Any]:
        """What the samples are made from, by content: the type, the parameters with each
        file or folder replaced by the hash of its names and bytes (moving the data changes
        nothing, relabeling, adding or editing a sample does), the task and the versions of
        heiti (a generated dataset's generator) and of the libraries that read the data.
        Every step that consumes the dataset (training, calibration, workflows) keys on it."""
        from heiti.core.cache import content_digest, tool_versions

        described = self.describe()
        parameters = dict(described["parameters"])
        for field, path in self.content_paths().items():
            digest = content_digest(path) if path is not None and path.exists() else None
            parameters[field] = digest and f"sha256:{digest}"
        return {"type": described["type"], "parameters": parameters, "task": self.task.describe(),
                "versions": tool_versions(self.requires)}

    def info(self) -> DatasetInfo:
        return DatasetInfo(name=self.name, class_names=self.class_names)

    def input_specs(self) -> list[TensorSpec]:
        """The named inputs of one sample batch, batch dimension dynamic."""
        return self.split("test").input_specs()

    def fit_hint(self, io: IOSpec) -> str | None:
        """How to change this dataset's parameters so its samples fit ``io`` (or None)."""
        return None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample of a single-input dataset, without the batch dimension."""
        return tuple(self.split("test").x.shape[1:])

    def _load_splits(self) -> dict[str, Samples]:
        raise NotImplementedError
