"""Dataset interface: deterministic splits and the quality metrics of its task."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from heiti.core.component import Component

SPLITS = ("train", "val", "test", "calibration")


@dataclass(frozen=True)
class Samples:
    """Model-ready inputs ``x`` (preprocessed, batch first) and ground truth ``y``."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.x)

    def head(self, n: int | None) -> Samples:
        return self if n is None else Samples(self.x[:n], self.y[:n])


class Dataset(Component):
    """Base class: subclasses implement ``_load_splits`` and set ``task``."""

    kind = "dataset"
    task: ClassVar[str] = "classification"

    _splits: dict[str, Samples] | None = None

    def split(self, name: str) -> Samples:
        if name not in SPLITS:
            raise ValueError(f"unknown split '{name}', expected one of {', '.join(SPLITS)}")
        if self._splits is None:
            self._splits = self._load_splits()
        return self._splits[name]

    @property
    def class_names(self) -> list[str]:
        raise NotImplementedError

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, without the batch dimension."""
        return tuple(self.split("test").x.shape[1:])

    def _load_splits(self) -> dict[str, Samples]:
        raise NotImplementedError

    def evaluate(self, outputs: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
        from heiti.evaluation import evaluate

        return evaluate(self.task, outputs, truth, self.class_names)
